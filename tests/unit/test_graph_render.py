"""The graph's pictures: distinct module colours, distinct action borders, a legend in every
format, and Mermaid that shows the plan. No AWS: the sandbox env's graph, built from its file."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from ngp import render_graph
from ngp.config import Project
from ngp.engine import build_desired
from ngp.modules import MODULES
from ngp.plan import Action
from tests.homes import REPO

SVG = "{http://www.w3.org/2000/svg}"
ALL_MODULES = [*MODULES, "permissions"]  # permissions: the boundary ngp adds (ngp/permissions.py)


def lab(colour: str) -> tuple[float, float, float]:
    """sRGB hex to CIELAB (D65)."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def distance(a: str, b: str) -> float:
    """CIE76 colour difference: about 2.3 is just noticeable; the old bands were under 10."""
    return sum((p - q) ** 2 for p, q in zip(lab(a), lab(b), strict=True)) ** 0.5


def contrast(a: str, b: str) -> float:
    """WCAG's contrast ratio of two colours."""
    def luminance(colour: str) -> float:
        r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                   for c in (r, g, b))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.fixture(scope="module")
def graph():
    return build_desired(Project(REPO).load("sandbox", {})).graph


@pytest.fixture(scope="module")
def actions(graph):
    looks = ["create", "update", "replace", "read", "no-op"]
    return {a: looks[i % len(looks)] for i, a in enumerate(graph.order())}


def test_every_module_has_a_clearly_distinct_colour():
    assert len(render_graph.MODULE_COLOURS) >= len(ALL_MODULES)
    used = render_graph.MODULE_COLOURS[:len(ALL_MODULES)]
    closest = min(distance(a, b) for a, b in itertools.combinations(used, 2))
    assert closest > 30, closest


def test_the_sandbox_modules_get_one_colour_each_and_readable_text(graph):
    colours = render_graph.module_colours(graph)
    assert set(colours) == {r.module for r in graph.resources.values()}
    assert len(set(colours.values())) == len(colours)
    for fill in colours.values():
        assert contrast(fill, render_graph.ink(fill)) >= 4.5, fill  # WCAG AA for text


def test_actions_have_distinct_borders_and_symbols():
    looks = render_graph.ACTIONS
    assert set(looks) == {str(action) for action in Action}  # every plan can be drawn
    assert len({(k.colour, k.dashes, k.width) for k in looks.values()}) == len(looks)
    assert len({k.dot_style for k in looks.values()}) >= 3
    assert len({k.symbol for k in looks.values()}) == len(looks)


def test_dot_has_a_legend_of_modules_and_planned_actions(graph, actions):
    picture = render_graph.dot(graph, actions)
    legend = picture[picture.index('subgraph "cluster_legend"'):]
    for module, fill in render_graph.module_colours(graph).items():
        assert f'"legend: {module}" [label="module {module}", fillcolor="{fill}"' in legend
    for action in ("create", "update", "replace", "read", "no-op"):
        assert f'"legend: {action}"' in legend
    assert '"network.vpc" [label="' in picture and 'style="filled,dashed", peripheries=2' in picture
    plain = render_graph.dot(graph)
    assert 'legend: network"' in plain and 'legend: create"' not in plain


def test_mermaid_honours_the_plan_with_a_class_per_action(graph, actions):
    picture = render_graph.mermaid(graph, actions)
    lines = picture.splitlines()
    assert '  subgraph ngp_legend["legend"]' in lines
    for module in render_graph.module_colours(graph):
        assert f'    legend_{module}["module {module}"]' in lines
    ids = {a: f"n{i}" for i, a in enumerate(graph.order())}
    classes = {line.split()[-1]: line.split()[1].split(",") for line in lines
               if line.startswith("  class ")}
    for address, action in actions.items():
        assert ids[address] in classes["act_" + action.replace("-", "")]
        assert ids[address] in classes["mod_" + graph.resources[address].module]
    assert any(line.startswith("  classDef act_update stroke:#b8860b") for line in lines)
    assert "#lt;= " in picture  # a read's symbol, escaped for Mermaid
    plain = render_graph.mermaid(graph)
    assert "act_" not in plain and "classDef mod_network" in plain


def test_svg_has_a_legend_and_fills_by_module_borders_by_action(graph, actions):
    picture = ET.fromstring(render_graph.svg(graph, actions))
    legend = next(g for g in picture.iter(f"{SVG}g") if g.get("class") == "legend")
    texts = [t.text for t in legend.iter(f"{SVG}text")]
    colours = render_graph.module_colours(graph)
    assert texts == [f"module {m}" for m in colours] + [
        "+ create", "~ update", "-/+ replace", "<= read", "no-op"]
    boxes = {g.find(f"{SVG}title").text.split(" (")[0]: g.find(f"{SVG}rect")
             for g in picture.iter(f"{SVG}g") if g.find(f"{SVG}title") is not None}
    assert sorted(boxes) == sorted(graph.resources)
    for address, rect in boxes.items():
        look = render_graph.ACTIONS[actions[address]]
        assert rect.get("fill") == colours[graph.resources[address].module]
        assert rect.get("stroke") == look.colour
        assert rect.get("stroke-dasharray", "") == look.dashes
