"""Every human-facing text: plan, progress, summary, status, outputs, stats (the graph's
pictures are in ngp/render_graph.py)."""

from __future__ import annotations

import graphlib
import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ngp import diffs
from ngp.engine import Op, Summary
from ngp.errors import NgpError
from ngp.graph import UNKNOWN, Ref, closure, is_secret_ref
from ngp.plan import Action, Change, FieldChange, Plan, counts

if TYPE_CHECKING:
    from ngp.lambdas.marathon_snapshot import RestorePlan

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
    """A field's lines in the plan: `name = value` when one line shows it; a JSON document
    or a text of several lines as its lines (a new one folded after its first lines, a
    changed one as a line diff with the unchanged runs folded)."""
    note = "  [magenta]# forces replacement[/]" if f.forces_replacement else ""
    old, new = diffs.as_lines(f.old), diffs.as_lines(f.new)
    if change.action == Action.CREATE:
        items = diffs.records(f.new)
        if items is not None:
            return [f"      {f.name}: {len(items)} items", *_marked(diffs.fold(items))]
        if new is None:
            return [f"      {f.name} = {escape(show(f.new))}"]
        return [f"      {f.name}:", *_marked(diffs.fold(new))]
    if old is not None or new is not None:
        if _opaque(f.old) or _opaque(f.new):  # hidden or not known yet: no lines to compare
            return [f"      ~ {f.name} = {escape(_brief(f.old, old))} -> "
                    f"{escape(_brief(f.new, new))}{note}"]
        before = old if old is not None else [] if f.old is None else [show(f.old)]
        after = new if new is not None else [] if f.new is None else [show(f.new)]
        return [f"      ~ {f.name}:{note}", *_marked(diffs.line_diff(before, after))]
    if isinstance(f.old, list) and isinstance(f.new, list):
        old_keys = {show(x) for x in f.old}
        new_keys = {show(x) for x in f.new}
        lines = [f"      ~ {f.name}:{note}"]
        lines += [f"        [red]- {escape(x)}[/]" for x in sorted(old_keys - new_keys)]
        lines += [f"        [green]+ {escape(x)}[/]" for x in sorted(new_keys - old_keys)]
        return lines
    return [f"      ~ {f.name} = {escape(show(f.old))} -> {escape(show(f.new))}{note}"]


def _opaque(value: Any) -> bool:
    return value is UNKNOWN or is_secret_ref(value) or isinstance(value, Ref)


def _brief(value: Any, lines: list[str] | None) -> str:
    return f"({len(lines)} lines)" if lines is not None else show(value)


_MARKS = {" ": "  {}", "-": "[red]- {}[/]", "+": "[green]+ {}[/]", "…": "[dim]… {}[/]"}


def _marked(lines: list[diffs.Line]) -> list[str]:
    return ["        " + _MARKS[mark].format(escape(text)) for mark, text in lines]


def by_module(plan: Plan) -> list[tuple[str, list[Change]]]:
    """The plan's actionable changes by module, each in the plan's (dependency) order. A
    module comes after the modules its resources refer to; modules that refer to each other
    (network and openvpn) come together, and ties go in the order of their first change."""
    module_of = {c.address: c.module or "other" for c in plan.changes}
    groups: dict[str, list[Change]] = {}
    for change in plan.actionable:
        groups.setdefault(module_of[change.address], []).append(change)
    needs: dict[str, set[str]] = {m: set() for m in module_of.values()}
    for change in plan.changes:
        needs[module_of[change.address]].update(module_of[d] for d in change.deps
                                                if d in module_of)
    first = {m: i for i, m in enumerate(dict.fromkeys(module_of.values()))}
    return [(m, groups[m]) for m in _modules_in_order(needs, first) if m in groups]


def _modules_in_order(needs: dict[str, set[str]], first: dict[str, int]) -> list[str]:
    """Modules that reach each other are one group (a cycle); the groups in dependency
    order, each ready one by its earliest module."""
    reach = {m: closure({m}, needs) for m in needs}
    group = {m: min((n for n in reach[m] if m in reach[n]), key=first.__getitem__)
             for m in needs}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for m in needs:  # a group needs what any of its members needs
        sorter.add(group[m], *({group[n] for n in needs[m]} - {group[m]}))
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=first.__getitem__)
        for head in ready:
            order += sorted((m for m in needs if group[m] == head), key=first.__getitem__)
        sorter.done(*ready)
    return order


def _module_counts(changes: list[Change]) -> str:
    numbers = counts(changes)
    parts = [f"{numbers['add']} to add", f"{numbers['change']} to change",
             f"{numbers['destroy']} to destroy",
             f"{sum(c.action == Action.READ for c in changes)} to read",
             f"{sum(c.action == Action.FORGET for c in changes)} to forget"]
    return ", ".join(p for p in parts if not p.startswith("0 "))


def print_plan(console: Console, plan: Plan) -> None:
    if not plan.actionable:
        what = "'s state matches what AWS has" if plan.refresh_only \
            else " matches its configuration"
        console.print(f"[green]No changes.[/] Env {plan.env!r}{what}.")
        return
    if plan.refresh_only:
        console.print(f"Refresh only: ngp will record in env [bold]{plan.env}[/]'s state what "
                      "AWS has; nothing in AWS changes:")
    else:
        console.print(f"ngp will perform these actions on env [bold]{plan.env}[/]:")
    for module, changes in by_module(plan):
        console.print(f"\n[bold]{escape(module)}[/]: {_module_counts(changes)}")
        for change in changes:
            _print_change(console, change)
    if plan.refresh_only:
        changed = sum(c.action == Action.READ for c in plan.changes)
        console.print(f"\n[bold]Plan:[/] {changed} to record, {len(plan.actionable) - changed} "
                      "to forget from the state; nothing in AWS changes.")
        return
    numbers = plan.counts()
    adopt = sum(c.action == Action.ADOPT for c in plan.changes)
    console.print(f"\n[bold]Plan:[/] {numbers['add']} to add, {numbers['change']} to change, "
                  f"{numbers['destroy']} to destroy" + (f", {adopt} to adopt." if adopt else "."))


def _print_change(console: Console, change: Change) -> None:
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
        # One line whatever its length, as the final error line: a log is read by grep.
        self.console.print(f"[red]{escape(op.address)}: {op.verb} failed[/]: "
                           f"{escape(error.summary)}", soft_wrap=True)

    def still_running(self, ops: list[tuple[Op, float]]) -> None:
        for op, seconds in ops:
            self.console.print(f"[dim]{escape(op.address)}: still {op.verb}... "
                               f"[{seconds:.0f}s elapsed][/]")

    def progress(self, message: str) -> None:
        self.console.print(f"[dim]{escape(message)}...[/]")

    def note(self, message: str) -> None:
        self.console.print(f"[cyan]note:[/] {escape(message)}", soft_wrap=True)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


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
    """One table per module, a line naming what is not healthy, then whether the env's URLs
    answer."""
    if not rows:
        console.print(f"Env {env!r} has no resources.")
        return
    by_module: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_module.setdefault(row.get("module") or "other", []).append(row)
    for module, members in by_module.items():
        unhealthy = sum(1 for r in members if not r["healthy"])
        table = Table(title=f"{module}: {len(members)} resources"
                      + (f", [red]{unhealthy} not healthy[/]" if unhealthy else ""),
                      title_justify="left", header_style="bold")
        for column in ("address", "kind", "id", "status"):
            table.add_column(column)
        for row in members:
            colour = "green" if row["healthy"] else "red"
            table.add_row(escape(row["address"]), row["kind"], row["id"] or "-",
                          f"[{colour}]{escape(row['status'])}[/]")
        console.print(table)
    bad = [r["address"] for r in rows if not r["healthy"]]
    if bad:
        console.print(f"[red]{len(bad)} of {len(rows)} resources not healthy:[/] "
                      + escape(", ".join(bad)))
    else:
        console.print(f"[green]All {len(rows)} resources healthy.[/]")
    for name, answer in (urls or {}).items():
        colour = "green" if answer.startswith("answers") else "red"
        console.print(f"{name}: [{colour}]{escape(answer)}[/]")


def print_restore_plan(console: Console, plan: RestorePlan, env: str) -> None:
    """`ngp restore`: the snapshot, then each app it would create or change (with the fields
    that differ), and what it leaves alone."""
    taken = f" (taken {plan.taken_at})" if plan.taken_at else ""
    if not plan.to_put:
        n = len(plan.same)
        console.print(f"[green]No changes.[/] Marathon matches snapshot "
                      f"{escape(plan.snapshot)}{escape(taken)} for env {env!r}: "
                      f"{n} app{'s' * (n != 1)} the same.")
    else:
        console.print(f"Restore of env [bold]{env}[/] from snapshot "
                      f"{escape(plan.snapshot)}{escape(taken)}:\n")
        for id in plan.create:
            console.print(f"  [green]  +[/] {escape(id)}  [dim]# gone from Marathon[/]")
        for id, fields in plan.change.items():
            values = plan.values.get(id, {})
            console.print(f"  [yellow]  ~[/] {escape(id)}  [dim]# differs in:[/] " + escape(
                ", ".join(f"{f} {values[f]['now']} -> {values[f]['snapshot']}" if f in values
                          else f for f in fields)))
        console.print(f"\n[bold]Restore:[/] {len(plan.create)} to create, "
                      f"{len(plan.change)} to change, {len(plan.same)} the same (left alone).")
    for label, ids in (("Left to their own envs", plan.other_envs_apps),
                       ("Not in the snapshot (left alone)", plan.not_in_snapshot)):
        if ids:
            console.print(f"{label}: " + escape(", ".join(ids)))


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
