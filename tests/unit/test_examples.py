"""The example pipelines are valid and call only ngp commands and options that exist; the
graph pictures name every resource."""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import typer
import yaml

from ngp import cli, render_graph
from ngp.config import Project
from ngp.engine import build_desired

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = [REPO / "examples" / "Jenkinsfile", REPO / "examples" / "github" / "ngp.yml"]


def invocations(text: str) -> list[list[str]]:
    """Every `ngp ...` command line in a pipeline, as argument lists."""
    code = "\n".join(line for line in text.splitlines()
                     if not line.lstrip().startswith(("//", "#")))
    found = []
    for match in re.finditer(r"(?<![\w/-])ngp ([^\n;&|>'\"]+)", code):
        args = shlex.split(match.group(1))
        if args and re.fullmatch(r"[a-z-]+", args[0]):
            found.append(args)
    return found


def check_against_cli(args: list[str]) -> None:
    command = typer.main.get_command(cli.app)
    while hasattr(command, "commands") and args and args[0] in command.commands:
        command, args = command.commands[args[0]], args[1:]
    assert not hasattr(command, "commands"), f"no such ngp command: {args}"
    options = {opt for param in command.params for opt in param.opts}
    for token in args:
        if token.startswith("-"):
            assert token.split("=")[0] in options, f"{command.name} has no option {token}"


def test_the_workflow_parses_and_plans_on_reviews_and_applies_on_main():
    workflow = yaml.safe_load(EXAMPLES[1].read_text())
    assert set(workflow["jobs"]) == {"plan", "apply"}
    assert workflow[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads `on` as True
    steps = " ".join(str(step) for step in workflow["jobs"]["plan"]["steps"])
    assert "--detailed-exitcode" in steps and "createComment" in steps
    assert "--out plan.json" in steps
    apply = workflow["jobs"]["apply"]
    assert apply["needs"] == "plan" and apply["environment"] == "stage"
    assert "ngp up plan.json" in str(apply["steps"])  # the saved plan, not a new one
    assert "secrets." in EXAMPLES[1].read_text() and "AKIA" not in EXAMPLES[1].read_text()


def test_every_ngp_command_in_the_pipelines_exists():
    for path in EXAMPLES:
        found = invocations(path.read_text())
        assert len(found) >= 4, path
        for args in found:
            check_against_cli(args)


def test_the_jenkinsfile_stages_call_only_ngp_and_keep_credentials_out():
    text = EXAMPLES[0].read_text()
    assert [m.group(1) for m in re.finditer(r"stage\('([^']+)'\)", text)] == [
        "Install", "Plan", "Apply"]
    assert "credentials(" in text and "withCredentials" in text
    assert not re.search(r"AKIA|aws_secret_access_key\s*=", text)


def test_the_svg_names_every_resource_of_the_sandbox_env():
    settings = Project(REPO).load("sandbox", {})
    graph = build_desired(settings).graph
    actions = {address: "create" for address in graph.resources}
    picture = ET.fromstring(render_graph.svg(graph, actions))
    titles = [t.text.split(" (")[0] for t in picture.iter("{http://www.w3.org/2000/svg}title")]
    assert sorted(titles) == sorted(graph.resources)
    strokes = {r.get("stroke") for r in picture.iter("{http://www.w3.org/2000/svg}rect")}
    assert render_graph.ACTIONS["create"].colour in strokes
    dot = render_graph.dot(graph, actions)
    assert all(f'"{address}"' in dot for address in graph.resources)
