"""The graph as pictures (`ngp graph`): Graphviz DOT, Mermaid and a standalone SVG. In each,
a module is a colour (its resources' fill) and a planned action is a border (colour, dash
and a symbol in the label), and a legend says which is which.

    dot(graph, {"network.vpc": "create"})  # -> 'digraph ngp { ... }'
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape as esc
from typing import NamedTuple

from ngp.graph import Graph, Resource
from ngp.plan import Change

# Module colours: qualitative colours from ColorBrewer (Dark2, Paired, Set3) and Okabe-Ito,
# each next one the farthest in CIELAB from those before it, so the first n are as
# distinct as n can be (tests/unit/test_graph_render.py checks the distances).
MODULE_COLOURS = ("#1b9e77", "#e7298a", "#e69f00", "#0072b2", "#fccde5", "#ffffb3", "#fb8072",
                  "#66a61e", "#6a3d9a", "#f0e442", "#d95f02", "#bc80bd", "#80b1d3", "#8dd3c7",
                  "#a6761d", "#fdbf6f")


class Look(NamedTuple):
    """How a planned action looks: the border's colour, SVG dashes, width, DOT style, and
    the plan's symbol put before the address (so it reads without colour too)."""

    colour: str
    dashes: str
    width: float
    dot_style: str
    symbol: str


ACTIONS = {
    "create": Look("#2e7d32", "", 3, "solid", "+"),
    "update": Look("#b8860b", "7,3", 3, "dashed", "~"),
    "replace": Look("#d35400", "10,3,2,3", 4, "dashed", "-/+"),  # DOT: a double border too
    "delete": Look("#c62828", "1,3", 3, "dotted", "-"),
    "read": Look("#1f5f99", "2,2", 2, "dotted", "<="),
    "adopt": Look("#00838f", "6,2,1,2", 3, "dashed", "<= adopt"),
    "forget": Look("#777777", "1,3", 1, "dotted", "."),
    "no-op": Look("#777777", "", 1, "solid", ""),
}
PLAIN = "#555555"  # a border when no plan is shown


def with_plan(graph: Graph, changes: Iterable[Change]) -> tuple[Graph, dict[str, str]]:
    """The graph to draw with a plan, and each address's action: what the plan deletes is
    in no desired graph, so it is drawn too, where its module and recorded edges put it."""
    changes = list(changes)
    gone = {c.address: c for c in changes if c.address not in graph.resources}
    if gone:
        known = graph.resources.keys() | gone.keys()
        graph = Graph.of([*graph.resources.values(), *(
            Resource(c.address, c.kind, {}, tuple(d for d in c.deps if d in known),
                     c.module or c.address.split(".")[0]) for c in gone.values())])
    return graph, {c.address: str(c.action) for c in changes}


def module_colours(graph: Graph) -> dict[str, str]:
    """Each module of the graph its colour, by name order (past 16 modules they repeat)."""
    modules = sorted({res.module or "other" for res in graph.resources.values()})
    return {m: MODULE_COLOURS[i % len(MODULE_COLOURS)] for i, m in enumerate(modules)}


def ink(fill: str) -> str:
    """Black or white text, whichever contrasts more with fill (WCAG's luminance)."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(fill[i:i + 2], 16) / 255) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


def _by_module(graph: Graph) -> dict[str, list[str]]:
    by_module: dict[str, list[str]] = {}
    for address, res in sorted(graph.resources.items()):
        by_module.setdefault(res.module or "other", []).append(address)
    return dict(sorted(by_module.items()))


def _shown(graph: Graph, actions: dict[str, str] | None) -> list[str]:
    """The actions the picture shows, in ACTIONS' order (a legend entry for each)."""
    planned = {actions[a] for a in graph.resources if a in actions} if actions else set()
    return [a for a in ACTIONS if a in planned]


def _label(address: str, action: str | None) -> str:
    symbol = ACTIONS[action].symbol if action else ""
    return f"{symbol} {address}" if symbol else address


def dot(graph: Graph, actions: dict[str, str] | None = None) -> str:
    """Graphviz DOT, modules as clusters; with actions, each resource's border its plan."""
    colours = module_colours(graph)
    lines = ["digraph ngp {", "  rankdir=LR;",
             "  node [shape=box, style=filled, fontname=Helvetica];"]

    def node(name: str, label: str, fill: str, action: str | None) -> str:
        border = f'color="{PLAIN}"'
        if action:
            look = ACTIONS[action]
            border = (f'color="{look.colour}", penwidth={look.width}, '
                      f'style="filled,{look.dot_style}"')
            border += ", peripheries=2" if action == "replace" else ""
        return f'"{name}" [label="{label}", fillcolor="{fill}", fontcolor="{ink(fill)}", {border}];'

    for module, addresses in _by_module(graph).items():
        lines.append(f'  subgraph "cluster_{module}" {{ label="{module}"; style=rounded; '
                     f'color="{colours[module]}"; penwidth=2;')
        for a in addresses:
            action = actions.get(a) if actions else None
            lines.append("    " + node(a, f"{_label(a, action)}\\n{graph.resources[a].kind}",
                                       colours[module], action))
        lines.append("  }")
    for address in graph.order():
        lines += [f'  "{d}" -> "{address}";' for d in sorted(graph.resources[address].deps())]
    lines.append('  subgraph "cluster_legend" { label="legend"; style=dashed; color="#999999";')
    lines += ["    " + node(f"legend: {m}", f"module {m}", c, None) for m, c in colours.items()]
    lines += ["    " + node(f"legend: {a}", _label(a, a), "#ffffff", a)
              for a in _shown(graph, actions)]
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def mermaid(graph: Graph, actions: dict[str, str] | None = None) -> str:
    """Mermaid flowchart, modules as subgraphs; a class per module (its fill) and, with
    actions, a class per planned action (its border): `class n3 act_update`."""
    colours = module_colours(graph)
    ids = {address: f"n{i}" for i, address in enumerate(graph.order())}
    lines = ["flowchart LR"]
    members: dict[str, list[str]] = {}  # class name -> node ids
    for module, addresses in _by_module(graph).items():
        lines.append(f"  subgraph {module}")
        for a in addresses:
            action = actions.get(a) if actions else None
            label = _label(a, action).replace("<", "#lt;")
            lines.append(f'    {ids[a]}["{label}<br/>{graph.resources[a].kind}"]')
            members.setdefault(f"mod_{module}", []).append(ids[a])
            if action:
                members.setdefault(_css(action), []).append(ids[a])
        lines.append("  end")
    for address in graph.order():
        lines += [f"  {ids[d]} --> {ids[address]}" for d in sorted(graph.resources[address].deps())]
    lines.append('  subgraph ngp_legend["legend"]')
    for m in colours:
        lines.append(f'    legend_{m}["module {m}"]')
        members[f"mod_{m}"].append(f"legend_{m}")
    for a in _shown(graph, actions):
        lines.append(f'    legend_{_css(a)}["{_label(a, a).replace("<", "#lt;")}"]')
        members[_css(a)].append(f"legend_{_css(a)}")
    lines.append("  end")
    lines += [f"  classDef mod_{m} fill:{c},color:{ink(c)}" for m, c in colours.items()]
    for a in _shown(graph, actions):
        look = ACTIONS[a]
        dashes = f",stroke-dasharray:{look.dashes.replace(',', ' ')}" if look.dashes else ""
        lines.append(f"  classDef {_css(a)} stroke:{look.colour},stroke-width:{look.width}px"
                     f"{dashes}")
    names = [f"mod_{m}" for m in colours] + [_css(a) for a in _shown(graph, actions)]
    lines += [f"  class {','.join(members[name])} {name}" for name in names]
    return "\n".join(lines) + "\n"


def _css(action: str) -> str:
    return "act_" + action.replace("-", "")  # a class name: act_noop


def svg(graph: Graph, actions: dict[str, str] | None = None) -> str:
    """The graph as a standalone SVG, drawn by ngp (no Graphviz needed): one column per
    depth (a resource right of everything it references), each resource filled with its
    module's colour and, with actions, bordered as its plan; the legend on top."""
    depth: dict[str, int] = {}
    for address in graph.order():
        depth[address] = 1 + max((depth[d] for d in graph.resources[address].deps()),
                                 default=-1)
    columns: dict[int, list[str]] = {}
    for address in sorted(graph.resources, key=lambda a: (graph.resources[a].module, a)):
        columns.setdefault(depth[address], []).append(address)
    colours = module_colours(graph)
    width, height, gap_x, gap_y = 250, 34, 70, 12
    total_w = 40 + max(len(columns), 1) * (width + gap_x)
    legend, legend_h = _svg_legend(colours, _shown(graph, actions), total_w - 40)
    top = 40 + legend_h + 16
    place = {a: (20 + c * (width + gap_x), top + r * (height + gap_y))
             for c, items in columns.items() for r, a in enumerate(items)}
    total_h = top + 40 + max((len(items) for items in columns.values()), default=0) * (
        height + gap_y)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
           f'font-family="Helvetica, Arial, sans-serif" font-size="11">',
           '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" '
           'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#999"/></marker></defs>',
           f'<text x="20" y="22" font-size="14" font-weight="bold">ngp: '
           f'{len(graph.resources)} resources, {len(colours)} modules</text>', *legend]
    for address, res in graph.resources.items():
        x, y = place[address]
        for dep in sorted(res.deps()):
            dx, dy = place[dep]
            out.append(f'<line x1="{dx + width}" y1="{dy + height / 2}" x2="{x}" '
                       f'y2="{y + height / 2}" stroke="#bbb" marker-end="url(#arrow)"/>')
    for address, res in graph.resources.items():
        x, y = place[address]
        module = res.module or "other"
        action = actions.get(address) if actions else None
        fill = colours[module]
        out.append(f'<g><title>{esc(address)} ({esc(res.kind)}, module {esc(module)}'
                   f'{", " + action if action else ""})</title>'
                   + _svg_box(x, y, width, height, fill, action)
                   + f'<text x="{x + 8}" y="{y + 14}" fill="{ink(fill)}">'
                   f'{esc(_label(address, action))}</text>'
                   f'<text x="{x + 8}" y="{y + 27}" fill="{ink(fill)}" opacity="0.75">'
                   f'{esc(res.kind)}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_box(x: float, y: float, w: float, h: float, fill: str, action: str | None) -> str:
    look = ACTIONS[action] if action else Look(PLAIN, "", 1, "solid", "")
    dashes = f' stroke-dasharray="{look.dashes}"' if look.dashes else ""
    return (f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="{fill}" '
            f'stroke="{look.colour}" stroke-width="{look.width}"{dashes}/>')


def _svg_legend(colours: dict[str, str], shown: list[str], room: int) -> tuple[list[str], int]:
    """The legend's elements (a box per module, then one per action shown) and its height."""
    entries: list[tuple[str, str, str | None]] = [
        (f"module {m}", c, None) for m, c in colours.items()]
    entries += [(_label(a, a), "#ffffff", a) for a in shown]
    w, h, gap = 160, 20, 8
    per_row = max(1, room // (w + gap))
    out = ['<g class="legend">']
    for i, (text, fill, action) in enumerate(entries):
        x, y = 20 + (i % per_row) * (w + gap), 36 + (i // per_row) * (h + gap)
        out.append(_svg_box(x, y, w, h, fill, action)
                   + f'<text x="{x + 8}" y="{y + 14}" fill="{ink(fill)}">{esc(text)}</text>')
    out.append("</g>")
    rows = -(-len(entries) // per_row)
    return out, rows * (h + gap)
