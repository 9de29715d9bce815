"""The plan and the graph as a user reads them, through the CLI against the sandbox."""

from __future__ import annotations

import re


def test_plan_is_grouped_by_module_and_mermaid_graph_shows_the_plan(home):
    env = home.env("planview")
    plan = home.ngp("plan", "--env", env, check=True).stdout
    heads = re.findall(r"(?m)^(\w+): (\d+) to add$", plan)
    assert heads == [("network", heads[0][1])] and int(heads[0][1]) > 20
    assert re.search(r"(?m)^Plan: \d+ to add, 0 to change, 0 to destroy\.$", plan)
    assert re.search(r"(?m)^      ingress: \d+ items$", plan)  # rules one per line, not "[N items]"

    picture = home.ngp("graph", "--env", env, "--plan", "--format", "mermaid",
                       check=True).stdout
    lines = picture.splitlines()
    assert '  subgraph ngp_legend["legend"]' in lines
    created = next(line for line in lines if line.endswith(" act_create"))
    assert len(created.split()[1].split(",")) > 20  # every resource, and the legend's entry
    assert "classDef act_create stroke:" in picture
    plain = home.ngp("graph", "--env", env, "--format", "mermaid", check=True).stdout
    assert "act_create" not in plain and "classDef mod_network" in plain


def test_graph_of_a_plan_draws_what_it_deletes_and_what_it_adopts(home):
    """A delete is in no desired graph and an adoption was a KeyError: both are drawn."""
    env = home.env("graphplan", modules='["network", "ecr"]')
    home.ngp("up", "--env", env, "--yes", check=True)
    path = home.root / "envs" / f"{env}.toml"
    path.write_text(path.read_text().replace('modules = ["network", "ecr"]',
                                             'modules = ["network"]'))
    picture = home.ngp("graph", "--env", env, "--plan", "--format", "mermaid",
                       check=True).stdout
    deleted = next(line for line in picture.splitlines() if line.endswith(" act_delete"))
    assert '["- ecr.' in picture and len(deleted.split()[1].split(",")) >= 2, picture
    assert "subgraph mod_ecr" in picture or "ecr" in picture.split("act_delete")[0]

    (home.root / "state" / f"{env}.json").unlink()  # lost: the network is adopted by its tags
    svg = home.ngp("graph", "--env", env, "--plan", "--format", "svg", check=True).stdout
    assert "&lt;= adopt network.vpc" in svg, svg[:2000]
