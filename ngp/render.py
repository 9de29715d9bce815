"""Every human-facing picture: plan, progress, summary, status, outputs, graph, stats."""

from __future__ import annotations

import json
import re
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ngp.engine import Op, Summary
from ngp.errors import NgpError
from ngp.graph import UNKNOWN, Graph, Ref, is_secret_ref
from ngp.plan import Action, Change, FieldChange, Plan

SYMBOLS = {
    Action.CREATE: ("+", "green"), Action.UPDATE: ("~", "yellow"),
    Action.REPLACE: ("-/+", "magenta"), Action.DELETE: ("-", "red"),
    Action.READ: ("<=", "cyan"), Action.FORGET: (".", "dim"), Action.ADOPT: ("<=", "cyan"),
}


def show(value: Any) -> str:
    if is_secret_ref(value):
        return "(hidden: ngp outputs --reveal)"
    if value is UNKNOWN:
        return "(known after apply)"
    if isinstance(value, Ref):
        return f"<{value}>"
    return json.dumps(value, default=repr)


def _field_lines(change: Change, f: FieldChange) -> list[str]:
    note = "  [magenta]# forces replacement[/]" if f.forces_replacement else ""
    if change.action == Action.CREATE:
        if isinstance(f.new, list) and f.new and isinstance(f.new[0], dict):
            return [f"      {f.name} = [{len(f.new)} items]"]
        return [f"      {f.name} = {escape(show(f.new))}"]
    if isinstance(f.old, list) and isinstance(f.new, list):
        old_keys = {show(x) for x in f.old}
        new_keys = {show(x) for x in f.new}
        lines = [f"      ~ {f.name}:{note}"]
        lines += [f"          [red]- {escape(x)}[/]" for x in sorted(old_keys - new_keys)]
        lines += [f"          [green]+ {escape(x)}[/]" for x in sorted(new_keys - old_keys)]
        return lines
    return [f"      ~ {f.name} = {escape(show(f.old))} -> {escape(show(f.new))}{note}"]


def print_plan(console: Console, plan: Plan) -> None:
    if not plan.actionable:
        what = "'s state matches what AWS has" if plan.refresh_only \
            else " matches its configuration"
        console.print(f"[green]No changes.[/] Env {plan.env!r}{what}.")
        return
    if plan.refresh_only:
        console.print(f"Refresh only: ngp will record in env [bold]{plan.env}[/]'s state what "
                      "AWS has; nothing in AWS changes:\n")
    else:
        console.print(f"ngp will perform these actions on env [bold]{plan.env}[/]:\n")
    for change in plan.changes:
        if change.action == Action.NOOP:
            continue
        symbol, colour = SYMBOLS[change.action]
        ident = f" [dim]{change.id}[/]" if change.id else ""
        why = f"  [dim]# {change.reason}[/]" if change.reason else ""
        if change.action == Action.REPLACE and not change.reason:
            why = "  [dim]# forces replacement[/]"
        verb = "adopt " if change.action == Action.ADOPT else ""
        console.print(f"  [{colour}]{symbol:>3}[/] {verb}{escape(change.address)}  "
                      f"[dim]({change.kind})[/]{ident}{why}")
        for f in change.fields:
            for line in _field_lines(change, f):
                console.print(line)
    if plan.refresh_only:
        changed = sum(c.action == Action.READ for c in plan.changes)
        console.print(f"\n[bold]Plan:[/] {changed} to record, {len(plan.actionable) - changed} "
                      "to forget from the state; nothing in AWS changes.")
        return
    counts = plan.counts()
    adopt = sum(c.action == Action.ADOPT for c in plan.changes)
    console.print(f"\n[bold]Plan:[/] {counts['add']} to add, {counts['change']} to change, "
                  f"{counts['destroy']} to destroy" + (f", {adopt} to adopt." if adopt else "."))


class LineReporter:
    """Progress as one line per step start and end, and a line every so often for long ones."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def started(self, op: Op) -> None:
        self.console.print(f"[dim]{escape(op.address)}: {op.verb}...[/]")

    def finished(self, op: Op, seconds: float) -> None:
        done = {"creating": "created", "updating": "updated", "deleting": "deleted",
                "reading": "read", "forgetting": "forgotten", "adopting": "adopted"}[op.verb]
        self.console.print(f"{escape(op.address)}: [green]{done}[/] after {seconds:.1f}s")

    def failed(self, op: Op, error: NgpError) -> None:
        self.console.print(f"[red]{escape(op.address)}: {op.verb} failed[/]: "
                           f"{escape(error.summary)}")

    def still_running(self, ops: list[tuple[Op, float]]) -> None:
        for op, seconds in ops:
            self.console.print(f"[dim]{escape(op.address)}: still {op.verb}... "
                               f"[{seconds:.0f}s elapsed][/]")

    def note(self, message: str) -> None:
        self.console.print(f"[cyan]note:[/] {escape(message)}")

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {escape(message)}")


def print_summary(console: Console, summary: Summary, verb: str) -> None:
    parts = [f"{n} {label}" for label, n in sorted(summary.done.items())]
    what = ", ".join(parts) or "nothing to do"
    colour = "red" if summary.failures or summary.interrupted else "green"
    head = (f"{verb} failed" if summary.failures
            else f"{verb} interrupted" if summary.interrupted else f"{verb} complete")
    console.print(f"\n[bold {colour}]{head}:[/] {what} in {summary.seconds:.1f}s.")


def print_outputs(console: Console, outputs: dict[str, Any]) -> None:
    if not outputs:
        console.print("[dim]No outputs.[/]")
        return
    width = max(len(name) for name in outputs)
    for name, value in sorted(outputs.items()):
        console.print(f"{name:<{width}} = {escape(show(value))}")


def print_status(console: Console, rows: list[dict[str, Any]], env: str,
                 urls: dict[str, str] | None = None) -> None:
    """One table per module, then whether the env's URLs answer."""
    if not rows:
        console.print(f"Env {env!r} has no resources.")
        return
    by_module: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_module.setdefault(row.get("module") or "other", []).append(row)
    for module, members in by_module.items():
        unhealthy = sum(1 for r in members if _bad(r["status"]))
        table = Table(title=f"{module}: {len(members)} resources"
                      + (f", [red]{unhealthy} not healthy[/]" if unhealthy else ""),
                      title_justify="left", header_style="bold")
        for column in ("address", "kind", "id", "status"):
            table.add_column(column)
        for row in members:
            colour = "red" if _bad(row["status"]) else "green"
            table.add_row(escape(row["address"]), row["kind"], row["id"] or "-",
                          f"[{colour}]{escape(row['status'])}[/]")
        console.print(table)
    for name, answer in (urls or {}).items():
        colour = "green" if answer.startswith("answers") else "red"
        console.print(f"{name}: [{colour}]{escape(answer)}[/]")


def _bad(status: str) -> bool:
    """missing, pending, stopped, or fewer tasks (or instances) running than wanted."""
    if status.startswith(("missing", "pending", "stopped", "terminated", "processing")):
        return True
    counts = re.match(r"(\d+)/(\d+)", status)
    return bool(counts and counts.group(1) != counts.group(2))


def rules_table(console: Console, rules: list[dict[str, str]]) -> None:
    """`ngp sandbox rules`: each strict rule, what AWS does, and where AWS says so."""
    table = Table(title="What the sandbox refuses, as AWS does", show_lines=True)
    for column in ("rule", "what AWS does", "source"):
        table.add_column(column, overflow="fold")
    for r in rules:
        table.add_row(r["name"], escape(r["summary"]), r["source"])
    console.print(table)
    console.print(f"{len(rules)} rules; `ngp sandbox start --lenient RULE` turns one off, "
                  "for diagnosis only.")


def print_stats(console: Console, calls: dict[str, int], seconds: float,
                summary: Summary | None = None) -> None:
    if summary is not None and summary.steps:
        bound = summary.critical_path()
        console.print(f"apply {summary.seconds:.2f}s; the critical path of its steps "
                      f"{bound:.2f}s (the longest chain of their own times; "
                      f"{summary.seconds / bound if bound else 1:.2f}x)")
    table = Table(title=f"{sum(calls.values())} API calls in {seconds:.2f}s",
                  title_justify="left", header_style="bold")
    table.add_column("operation")
    table.add_column("calls", justify="right")
    for op, n in sorted(calls.items()):
        table.add_row(op, str(n))
    console.print(table)


# Planned actions as colours (fill, stroke), in the graph pictures.
ACTION_COLOURS = {"create": ("#d9f2d9", "#2e7d32"), "update": ("#fff3cd", "#b8860b"),
                  "replace": ("#ffe0cc", "#d35400"), "delete": ("#f8d7da", "#c62828"),
                  "read": ("#dbe9f6", "#1f5f99"), "no-op": ("#f4f4f4", "#777777")}


def dot(graph: Graph, actions: dict[str, str] | None = None) -> str:
    """Graphviz DOT, modules as clusters; with actions, each resource coloured by its plan."""
    lines = ["digraph ngp {", "  rankdir=LR;",
             "  node [shape=box, style=filled, fillcolor=white, fontname=Helvetica];"]
    by_module: dict[str, list[str]] = {}
    for address, res in graph.resources.items():
        by_module.setdefault(res.module or "other", []).append(address)
    for module, addresses in sorted(by_module.items()):
        lines.append(f'  subgraph "cluster_{module}" {{ label="{module}";')
        for a in sorted(addresses):
            colour = ""
            if actions and a in actions:
                fill, stroke = ACTION_COLOURS[actions[a]]
                colour = f', fillcolor="{fill}", color="{stroke}"'
            lines.append(f'    "{a}" [label="{a}\\n{graph.resources[a].kind}"{colour}];')
        lines.append("  }")
    for address in graph.order():
        lines += [f'  "{d}" -> "{address}";' for d in sorted(graph.resources[address].deps())]
    lines.append("}")
    return "\n".join(lines) + "\n"


def mermaid(graph: Graph) -> str:
    ids = {address: f"n{i}" for i, address in enumerate(graph.order())}
    lines = ["flowchart LR"]
    by_module: dict[str, list[str]] = {}
    for address, res in graph.resources.items():
        by_module.setdefault(res.module or "other", []).append(address)
    for module, addresses in sorted(by_module.items()):
        lines.append(f"  subgraph {module}")
        lines += [f'    {ids[a]}["{a}<br/>{graph.resources[a].kind}"]' for a in sorted(addresses)]
        lines.append("  end")
    for address in graph.order():
        lines += [f"  {ids[d]} --> {ids[address]}" for d in sorted(graph.resources[address].deps())]
    return "\n".join(lines) + "\n"



def svg(graph: Graph, actions: dict[str, str] | None = None) -> str:
    """The graph as a standalone SVG, drawn by ngp (no Graphviz needed): one column per
    depth (a resource right of everything it references), modules as coloured bands,
    resources coloured by their planned action when given."""
    from html import escape as esc

    depth: dict[str, int] = {}
    for address in graph.order():
        depth[address] = 1 + max((depth[d] for d in graph.resources[address].deps()),
                                 default=-1)
    columns: dict[int, list[str]] = {}
    for address in sorted(graph.resources, key=lambda a: (graph.resources[a].module, a)):
        columns.setdefault(depth[address], []).append(address)
    width, height, gap_x, gap_y = 250, 34, 70, 12
    place = {a: (20 + c * (width + gap_x), 40 + r * (height + gap_y))
             for c, items in columns.items() for r, a in enumerate(items)}
    modules = sorted({graph.resources[a].module or "other" for a in graph.resources})
    palette = ["#e8f0fe", "#fde7e9", "#e6f4ea", "#fef7e0", "#f3e8fd", "#e0f7fa", "#fbe9e7",
               "#f1f8e9", "#ede7f6", "#fff8e1", "#e3f2fd", "#fce4ec"]
    band = {m: palette[i % len(palette)] for i, m in enumerate(modules)}
    total_w = 40 + len(columns) * (width + gap_x)
    total_h = 80 + max(len(items) for items in columns.values()) * (height + gap_y)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
           f'font-family="Helvetica, Arial, sans-serif" font-size="11">',
           '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" '
           'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#999"/></marker></defs>',
           f'<text x="20" y="22" font-size="14" font-weight="bold">ngp: '
           f'{len(graph.resources)} resources, {len(modules)} modules</text>']
    for address, res in graph.resources.items():
        x, y = place[address]
        for dep in sorted(res.deps()):
            dx, dy = place[dep]
            out.append(f'<line x1="{dx + width}" y1="{dy + height / 2}" x2="{x}" '
                       f'y2="{y + height / 2}" stroke="#bbb" marker-end="url(#arrow)"/>')
    for address, res in graph.resources.items():
        x, y = place[address]
        module = res.module or "other"
        fill, stroke = (ACTION_COLOURS[actions[address]] if actions and address in actions
                        else (band[module], "#888"))
        out.append(f'<g><title>{esc(address)} ({esc(res.kind)}, module {esc(module)})</title>'
                   f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="4" '
                   f'fill="{fill}" stroke="{stroke}"/>'
                   f'<rect x="{x}" y="{y}" width="6" height="{height}" fill="{band[module]}" '
                   f'stroke="{stroke}"/>'
                   f'<text x="{x + 12}" y="{y + 14}">{esc(address)}</text>'
                   f'<text x="{x + 12}" y="{y + 27}" fill="#666">{esc(res.kind)}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
