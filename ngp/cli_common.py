"""What every ngp command shares: the two consoles, the common options, the project and the
env a command names. The commands live in ngp/cli.py and its sub-apps in ngp/cli_*.py."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ngp.errors import NgpError

if TYPE_CHECKING:
    from ngp.config import Project

# Piped output is not cut at 80 columns: addresses and ids are read by scripts too.
out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, emoji=False,
              width=None if sys.stderr.isatty() else 200)



class _Later:
    """A module imported at its first use. The CLI's files name the engine, render, ... at
    their top, but `ngp --help` and each Tab of shell completion import none of them, nor
    boto3, pydantic or the modules: that is most of a second (README, Benchmark)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


def later(name: str) -> Any:
    """`engine = later("ngp.engine")`: the module, imported when an attribute is first read."""
    return _Later(name)


def complete_env(incomplete: str) -> list[str]:
    """The env names for shell completion: envs/*.toml, read without loading settings."""
    envs = Path(os.environ.get("NGP_HOME", ".")) / "envs"
    return sorted(p.stem for p in envs.glob("*.toml") if p.stem.startswith(incomplete))


Env = Annotated[str | None, typer.Option("--env", "-e", envvar="NGP_ENV", show_default=False,
                                         autocompletion=complete_env,
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
    from ngp.config import Project

    return Project()


def pick_env(env: str | None) -> str:
    """The env named by --env or $NGP_ENV; a missing or malformed name is one clear line."""
    if not env:
        known = ", ".join(find_project().env_names()) or "none in envs/"
        raise NgpError("no env given", hint=f"Pass --env NAME or set NGP_ENV (known: {known}).")
    from ngp.config import check_env_name

    return check_env_name(env)


def say(message: str) -> None:
    """One line to stdout, as written: an address's brackets (subnet.public[a]) are no markup."""
    out.print(escape(message), soft_wrap=True)  # a long ARN stays on its line


def warn(message: str) -> None:
    """A warning on stderr, in the one format every command uses."""
    err.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)



def one_line_paragraphs(app: typer.Typer) -> None:
    """Docstrings wrap at 100 columns in the source; the help wraps them again at the
    terminal's width. Join each paragraph's lines, or the command list breaks lines where
    the source did ("attach it / to / the user")."""
    for info in app.registered_commands:
        doc = info.help if info.help is not None else inspect.getdoc(info.callback)
        if doc:
            info.help = "\n\n".join(
                part if part.startswith("\b") else " ".join(part.split("\n"))
                for part in inspect.cleandoc(doc).split("\n\n"))
    for group in app.registered_groups:
        if group.typer_instance is not None:
            one_line_paragraphs(group.typer_instance)
