"""What every ngp command shares: the two consoles, the common options, the project and the
env a command names. The commands live in ngp/cli.py and its sub-apps in ngp/cli_*.py."""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ngp.config import Project, check_env_name
from ngp.errors import NgpError

# Piped output is not cut at 80 columns: addresses and ids are read by scripts too.
out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, emoji=False,
              width=None if sys.stderr.isatty() else 200)

Env = Annotated[str | None, typer.Option("--env", "-e", envvar="NGP_ENV", show_default=False,
                                         help="The env: envs/<env>.toml (or $NGP_ENV).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Parallelism = Annotated[int | None, typer.Option(
    "--parallelism", metavar="N", show_default=False,
    help="Steps and AWS calls at once (1-64), instead of the env file's parallelism.")]
LockTimeout = Annotated[str, typer.Option(
    "--lock-timeout", metavar="DURATION",
    help="Wait this long (30s, 5m) for a lock another run holds; 0 fails at once.")]


def _debug(value: bool) -> None:
    if value:
        from ngp import debug_log

        debug_log.request()


# Handled as it is parsed (not passed to the command): the engine opens the log.
Debug = Annotated[bool, typer.Option(
    "--debug", callback=_debug, expose_value=False,
    help="Log every AWS request and Marathon call to a file, secrets redacted (as "
    "NGP_LOG=debug): $NGP_LOG_PATH, or state/logs/<env>-<time>.log.")]

DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str, option: str = "--lock-timeout") -> float:
    """Seconds in a duration as Terraform writes them: 30s, 5m, 1h, 500ms (a bare number is
    seconds)."""
    found = DURATION.fullmatch(text.strip())
    if not found:
        raise NgpError(f"{option} {text!r} is not a duration",
                       hint="Give a number with s, m or h, as in 30s or 5m (0: do not wait).")
    return float(found[1]) * SECONDS[found[2] or "s"]


def find_project() -> Project:
    """The project: envs/ and state/ in $NGP_HOME, or the current directory."""
    return Project()


def pick_env(env: str | None) -> str:
    """The env named by --env or $NGP_ENV; a missing or malformed name is one clear line."""
    if not env:
        known = ", ".join(find_project().env_names()) or "none in envs/"
        raise NgpError("no env given", hint=f"Pass --env NAME or set NGP_ENV (known: {known}).")
    return check_env_name(env)


def warn(message: str) -> None:
    """A warning on stderr, in the one format every command uses."""
    err.print(f"[yellow]warning:[/] {escape(message)}")

