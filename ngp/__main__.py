"""`python -m ngp` is the `ngp` command (the console script calls main() here too).
`ngp --version` answers before the CLI loads: importing it (settings, modules, boto3) takes
most of a second."""

from __future__ import annotations

import sys
from typing import Any


def main() -> Any:
    if sys.argv[1:] == ["--version"]:
        from ngp import __version__

        print(f"ngp {__version__}")
        return 0
    from ngp.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
