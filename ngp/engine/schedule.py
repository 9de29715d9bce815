"""Scheduling: the plan as a graph of steps, and which ready step starts first."""

from __future__ import annotations

import graphlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ngp.engine.run import Run
from ngp.errors import NgpError
from ngp.graph import dependents
from ngp.plan import Action, Change, Plan
from ngp.resources import get_kind


@dataclass(frozen=True)
class Op:
    """One step of an apply: 'apply' (create, update, read) or 'delete' of an address."""

    phase: str
    change: Change
    service: str

    @property
    def address(self) -> str:
        return self.change.address

    @property
    def key(self) -> tuple[str, str]:
        return (self.phase, self.change.address)

    @property
    def verb(self) -> str:
        if self.phase == "delete":
            return "forgetting" if self.change.action == Action.FORGET else "deleting"
        return {Action.UPDATE: "updating", Action.READ: "reading",
                Action.ADOPT: "adopting"}.get(
            self.change.action, "creating")


@dataclass
class Summary:
    done: Counter[str] = field(default_factory=Counter)
    failures: dict[str, NgpError] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    # Each finished step's wall time and AWS calls, and what it waited for.
    steps: dict[tuple[str, str], tuple[float, list[str]]] = field(default_factory=dict)
    deps: dict[tuple, set[tuple]] = field(default_factory=dict)

    def critical_path(self) -> float:
        """The longest chain of the steps' own times: no schedule could finish sooner."""
        return longest_chain(self.deps, lambda key: self.steps.get(key, (0.0, []))[0])


def schedule(run: Run, plan: Plan) -> tuple[dict[tuple[str, str], Op], dict[tuple, set[tuple]]]:
    """The plan as a graph of steps. Creates and updates follow the config's references;
    deletes follow the recorded ones, reversed; a replaced object is deleted (once what its
    new half needs is made), then created."""
    ops: dict[tuple[str, str], Op] = {}
    for change in plan.actionable:
        service = get_kind(change.kind).service
        if change.action in (Action.REPLACE, Action.DELETE, Action.FORGET):
            ops[("delete", change.address)] = Op("delete", change, service)
        if change.action in (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.READ,
                             Action.ADOPT):
            ops[("apply", change.address)] = Op("apply", change, service)
    deps: dict[tuple, set[tuple]] = {key: set() for key in ops}
    for (phase, address), op in ops.items():
        if phase == "apply":
            deps[(phase, address)] |= {("apply", d) for d in op.change.deps
                                       if ("apply", d) in ops}
            if ("delete", address) in ops:
                deps[(phase, address)].add(("delete", address))
            continue
        pure_delete = op.change.action in (Action.DELETE, Action.FORGET)
        # An object the state never knew (ngp down) is deleted after what needs it too.
        deps[(phase, address)] |= {key for key, other in ops.items() if key[0] == "delete"
                                   and other.change.action == Action.DELETE
                                   and address in other.change.deps and key[1] != address}
        for other, rec in run.state.resources.items():
            if address not in rec.deps:
                continue
            if ("delete", other) in ops:
                deps[(phase, address)].add(("delete", other))
            elif pure_delete and ("apply", other) in ops:
                deps[(phase, address)].add(("apply", other))  # it stops using us first
    _inputs_before_replacing(ops, deps)
    return ops, deps


def _inputs_before_replacing(ops: dict[tuple[str, str], Op],
                             deps: dict[tuple, set[tuple]]) -> None:
    """A replaced object's old half is deleted only once what its new half needs is made
    or changed: a new input that fails (a key pair that cannot be imported) then leaves the
    old object running, instead of deleted with nothing to take its place (issue 19). Not
    where that input itself waits for this delete (it is replaced too, or needs what is):
    that order is the only one there is."""
    for (phase, address), op in ops.items():
        if phase != "delete" or op.change.action != Action.REPLACE:
            continue
        for dep in op.change.deps:
            if ("apply", dep) in ops and not _reaches(deps, ("apply", dep),
                                                      ("delete", address)):
                deps[("delete", address)].add(("apply", dep))


def _reaches(deps: dict[tuple, set[tuple]], start: tuple, goal: tuple) -> bool:
    """Whether start waits, directly or not, for goal."""
    seen, todo = set(), [start]
    while todo:
        key = todo.pop()
        if key == goal:
            return True
        if key not in seen:
            seen.add(key)
            todo.extend(deps.get(key, ()))
    return False


def heights(deps: dict[tuple, set[tuple]], weight: Callable[[tuple], float]
            ) -> dict[tuple, float]:
    """For each step, the longest chain of weights from it to the end (itself included)."""
    after = dependents(deps)
    found: dict[tuple, float] = {}
    # Dependents come first, so each step finds its dependents' heights known.
    for key in reversed(list(graphlib.TopologicalSorter(deps).static_order())):
        found[key] = weight(key) + max((found[d] for d in after.get(key, ())), default=0.0)
    return found


def longest_chain(deps: dict[tuple, set[tuple]], weight: Callable[[tuple], float]) -> float:
    return max(heights(deps, weight).values(), default=0.0)


def priorities(run: Run, ops: dict[tuple[str, str], Op],
                deps: dict[tuple, set[tuple]]) -> dict[tuple, float]:
    """Which ready step starts first: the head of the longest chain of typical times (a
    NAT gateway or a search domain before a route), or, with scheduling = "ready_order",
    the first to become ready."""
    if run.settings.core.scheduling == "ready_order":
        return dict.fromkeys(ops, 0.0)

    def typical(key: tuple) -> float:
        kind = get_kind(ops[key].change.kind)
        return kind.typical_delete_seconds if key[0] == "delete" else kind.typical_seconds

    return heights(deps, typical)
