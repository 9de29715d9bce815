"""The workflow options a Terraform user reaches for: --version, --parallelism and
--lock-timeout's waiting (the commands themselves are run in tests/e2e/test_workflow.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

import ngp
from ngp.cli import app


def test_version_answers_before_the_cli_loads():
    shown = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv = ['ngp', '--version']\n"
         "from ngp.__main__ import main\nmain()\n"
         "print(sorted(m for m in sys.modules\n"
         "             if m.startswith(('ngp.', 'boto')) and m != 'ngp.__main__'))"],
        capture_output=True, text=True, timeout=30, env={**os.environ})
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [f"ngp {ngp.__version__}", "[]"]


def test_version_in_the_app_too():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"ngp {ngp.__version__}\n"
