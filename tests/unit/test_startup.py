"""Start-up: `ngp --help` and each Tab of shell completion import only the CLI (typer, rich),
never the engine, the modules, boto3 or moto (that was most of a second; the figures are in
bench/startup.py). What a process imported is checked, not how long it took."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import typer.main

from ngp.cli import app

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "moto", "httpx", "ngp.engine", "ngp.config", "ngp.modules",
         "ngp.resources", "ngp.aws", "ngp.sandbox.control", "ngp.render", "ngp.state")

# The console script's own lines (pyproject: ngp.__main__:main); ngp ends its process with
# os._exit, which here first prints what was imported.
RUN = """
import json, os, sys
end = os._exit
def report(code):
    print(json.dumps(sorted(sys.modules)))
    sys.stdout.flush()
    end(code)
os._exit = report
sys.argv[0] = 'ngp'
from ngp.__main__ import main
main()
"""


def run(*args: str, **env: str) -> tuple[list[str], list[str]]:
    """The output lines of `ngp ARGS` in a fresh process, and the modules it imported."""
    proc = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO, env={**os.environ, "NGP_HOME": str(REPO), **env})
    assert proc.returncode == 0, proc.stderr
    *lines, imported = proc.stdout.splitlines()
    return lines, json.loads(imported)


def heavy(imported: list[str]) -> list[str]:
    return [m for m in imported if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_help_imports_no_engine_nor_aws():
    lines, imported = run("--help", COLUMNS="100")
    assert any("validate" in line for line in lines)
    assert heavy(imported) == []
    assert "pydantic" not in imported


def test_a_command_help_too():
    lines, imported = run("plan", "--help", COLUMNS="100")
    assert any("--detailed-exitcode" in line for line in lines)
    assert heavy(imported) == []


def test_completion_of_commands_imports_nothing_heavy():
    lines, imported = run(_NGP_COMPLETE="complete_bash", COMP_WORDS="ngp pl", COMP_CWORD="1")
    assert lines == ["plan"]
    assert heavy(imported) == []


def test_completion_of_env_names_reads_envs_only():
    lines, imported = run(_NGP_COMPLETE="complete_bash", COMP_WORDS="ngp plan --env s",
                          COMP_CWORD="3")
    assert lines == ["sandbox", "stage"]
    assert heavy(imported) == []
    lines, _ = run(_NGP_COMPLETE="complete_bash", COMP_WORDS="ngp state list -e ",
                   COMP_CWORD="4")
    assert lines == sorted(p.stem for p in (REPO / "envs").glob("*.toml"))


def test_a_command_still_loads_what_it_needs():
    lines, imported = run("validate", "--env", "sandbox")
    assert "is valid" in lines[-1]
    assert "ngp.config" in imported and "ngp.engine" in imported


def test_help_paragraphs_are_one_line_each():
    # The source wraps docstrings at 100 columns; the help wraps them at the terminal's.
    def walk(command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    for command in walk(typer.main.get_command(app)):
        for paragraph in (command.help or "").split("\n\n"):
            assert "\n" not in paragraph or paragraph.startswith("\b"), command.name


def test_an_env_loads_its_own_modules_only(tmp_path):
    (tmp_path / "envs").mkdir()
    text = (REPO / "envs" / "sandbox.toml").read_text()
    head, _, _ = text.partition("[openvpn]")
    head = head.replace(head[head.index("modules = ["):head.index("]", head.index(
        "modules = [")) + 1], 'modules = ["network"]').replace(
        'domain = "sandbox.ngp.test"', "")
    (tmp_path / "envs" / "net.toml").write_text(head)
    lines, imported = run("validate", "--env", "net", NGP_HOME=str(tmp_path))
    assert "1 module" in lines[-1]
    assert [m for m in imported if m.startswith("ngp.modules.")] == [
        "ngp.modules.base", "ngp.modules.network"]
    assert not [m for m in imported if m.split(".")[0] in ("boto3", "s3transfer", "httpx")]
