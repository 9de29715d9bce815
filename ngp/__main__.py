"""`python -m ngp` is the `ngp` command (the console script calls main() here too).
`ngp --version` answers before the CLI loads: importing it (settings, modules, boto3) takes
most of a second."""

from __future__ import annotations

import os
import sys
from typing import Any


def main() -> Any:
    if sys.argv[1:] == ["--version"]:
        from ngp import __version__

        print(f"ngp {__version__}")
        return 0
    from ngp.cli import main as cli_main

    try:
        code = cli_main()
    except SystemExit as exc:  # click ends every command so, 0 included
        code = exc.code
    return _exit_now(code)


def _exit_now(code: Any) -> Any:
    """End the process without tearing the interpreter down: freeing every module and
    botocore's service models takes a quarter of a second after a `plan` (README, Benchmark).
    The command's work is done: its threads joined, its files saved; stdio and logs are
    flushed here."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `ngp ... | head`
        pass
    if "logging" in sys.modules:
        import logging

        logging.shutdown()
    os._exit(code or 0)


if __name__ == "__main__":
    sys.exit(main())
