"""Plans as plain values, and the one pure function that makes them.

make_plan compares what the config wants (the graph), what ngp recorded (the state) and
what AWS has (observed, from a refresh). It makes no AWS call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ngp.errors import NgpError
from ngp.graph import UNKNOWN, Graph, Ref, closure, dependents, matches, resolve, stable_order
from ngp.resources import get_kind
from ngp.resources.base import NGP_TAGS, TAG_ADDRESS, TAG_ENV, TAG_LINEAGE
from ngp.state import State


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    READ = "read"  # a read-only object (an adopted VPC) is looked up and recorded
    FORGET = "forget"  # a read-only object leaves the state; nothing in AWS changes
    NOOP = "no-op"


MUTATING = {Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE}


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: Any
    new: Any
    forces_replacement: bool = False


@dataclass(frozen=True)
class Change:
    address: str
    kind: str
    action: Action
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""
    id: str | None = None
    module: str = ""
    # What the update starts from: the last applied spec overlaid with what AWS showed.
    before: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # What apply needs, so it needs nothing else: the spec as the config gave it (Refs to
    # other objects' outputs are resolved when the step runs) and the addresses it needs.
    spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    deps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The changes, and what they were planned against: a saved plan (ngp.plan_file) is
    applied only to the state it was made from (its lineage, at its serial)."""

    env: str
    changes: tuple[Change, ...]
    destroy: bool = False
    lineage: str = ""
    serial: int = 0
    outputs: dict[str, Any] = field(default_factory=dict, compare=False)  # values or Refs

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action not in (Action.NOOP,))

    @property
    def has_changes(self) -> bool:
        return any(c.action in MUTATING for c in self.changes)

    def counts(self) -> dict[str, int]:
        add = sum(c.action in (Action.CREATE, Action.REPLACE) for c in self.changes)
        change = sum(c.action == Action.UPDATE for c in self.changes)
        destroy = sum(c.action in (Action.DELETE, Action.REPLACE) for c in self.changes)
        return {"add": add, "change": change, "destroy": destroy}

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "destroy": self.destroy,
            "has_changes": self.has_changes,
            "counts": self.counts(),
            "changes": [
                {"address": c.address, "kind": c.kind, "action": str(c.action), "id": c.id,
                 "reason": c.reason, "module": c.module,
                 "fields": [{"name": f.name, "old": jsonable(f.old), "new": jsonable(f.new),
                             "forces_replacement": f.forces_replacement} for f in c.fields]}
                for c in self.changes if c.action != Action.NOOP
            ],
        }


def jsonable(value: Any) -> Any:
    """A field's value for JSON: references as text, and a value not known before the apply
    (also inside a list or dict: the ids of groups still to be made) as its repr."""
    def known(value: Any) -> Any:
        if value is UNKNOWN:
            return repr(UNKNOWN)
        if isinstance(value, dict):
            return {k: known(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [known(v) for v in value]
        return value
    return known(resolve(value, lambda ref: str(ref)))


def _diff(kind_name: str, want: dict[str, Any], have: dict[str, Any]) -> list[FieldChange]:
    kind = get_kind(kind_name)
    return [FieldChange(name, have.get(name), want.get(name), name in kind.replace_on)
            for name in sorted(set(want) | set(have)) if want.get(name) != have.get(name)]


def make_plan(
    graph: Graph,
    state: State,
    observed: dict[str, dict[str, Any] | None],
    *,
    targets: list[str] | None = None,
    destroy: bool = False,
    outputs: dict[str, Any] | None = None,
) -> Plan:
    """What to do to make AWS match the graph.

    observed maps each refreshed address to its live object, or None when it is gone;
    an address absent from observed was not refreshed and is taken as recorded.
    """
    wanted = Graph() if destroy else graph
    selected = _select(wanted, state, targets)
    known: dict[str, dict[str, Any] | None] = {}  # outputs as far as known before apply

    def lookup(ref: Ref) -> Any:
        # The graph is walked in order, so every referenced address is already in known.
        outputs = known.get(ref.address)
        return UNKNOWN if outputs is None else outputs.get(ref.output, UNKNOWN)

    changes: list[Change] = []
    for address in wanted.order():
        res = wanted.resources[address]
        kind = get_kind(res.kind, where=address)
        spec = kind.canonical(resolve(res.spec, lookup))
        rec = state.resources.get(address)
        live = observed.get(address)
        common: dict[str, Any] = {"address": address, "kind": res.kind, "module": res.module,
                                  "id": rec.id if rec else None, "spec": res.spec,
                                  "deps": tuple(sorted(res.deps()))}

        if kind.read_only:
            if live is None:
                what = spec.get("id", f"matching {spec}")
                raise NgpError(
                    f"{res.kind} {what} does not exist in AWS",
                    where=address,
                    hint="Check the env's settings: ngp looks this up, it does not make it.")
            known[address] = kind.outputs_of(live)
            same = rec is not None and rec.id == live["id"] and rec.outputs == known[address]
            action = Action.NOOP if same else Action.READ
            # The apply records what the plan saw: no second lookup, no surprise.
            changes.append(Change(action=action, before=live, **{**common, "id": live["id"]}))
            continue

        if rec is None or rec.kind != res.kind or (address in observed and live is None):
            known[address] = None
            if rec is None:
                changes.append(Change(action=Action.CREATE, fields=tuple(
                    FieldChange(n, None, v) for n, v in sorted(spec.items())), **common))
            elif rec.kind != res.kind:
                changes.append(Change(action=Action.REPLACE, reason=f"kind changed from "
                                      f"{rec.kind}", **common))
            else:
                changes.append(Change(action=Action.CREATE, reason="deleted outside ngp",
                                      fields=tuple(FieldChange(n, None, v)
                                                   for n, v in sorted(spec.items())),
                                      **{**common, "id": None}))
            continue

        # Fields the read cannot see cheaply are taken as last applied.
        visible = {k: live[k] for k in spec if live and k in live}
        before = kind.canonical({**rec.spec, **visible})
        want = spec
        if NGP_TAGS in rec.spec:  # imported: ngp's tags are still to be written
            want = {**spec, NGP_TAGS: {TAG_ENV: state.env, TAG_ADDRESS: address,
                                       TAG_LINEAGE: state.lineage}}
        fields = _diff(res.kind, want, {k: before.get(k) for k in set(want) | set(rec.spec)})
        drifted = any(rec.spec.get(f.name) != before.get(f.name) for f in fields)
        reason = "changed outside ngp" if drifted else \
            "imported: ngp adds its tags" if NGP_TAGS in rec.spec else ""
        if not fields:
            outputs = {**rec.outputs, **(kind.outputs_of(live) if live else {})}
            known[address] = outputs
            changes.append(Change(action=Action.NOOP, **common))
        elif any(f.forces_replacement for f in fields):
            known[address] = None
            changes.append(Change(action=Action.REPLACE, fields=tuple(fields), reason=reason,
                                  before=before, **common))
        else:
            changed = {f.name for f in fields}
            known[address] = {k: UNKNOWN if k in changed else v for k, v in rec.outputs.items()}
            notes = [kind.update_notes[f] for f in sorted(changed) if f in kind.update_notes]
            reason = "; ".join(filter(None, [reason, *notes]))
            changes.append(Change(action=Action.UPDATE, fields=tuple(fields), reason=reason,
                                  before=before, **common))

    recorded_deps = {a: set(r.deps) & state.resources.keys() for a, r in state.resources.items()}
    for address in reversed(stable_order(recorded_deps)):
        if address in wanted.resources:
            continue
        rec = state.resources[address]
        action = Action.FORGET if get_kind(rec.kind, where=address).read_only \
            else Action.DELETE
        changes.append(Change(address=address, kind=rec.kind, action=action, id=rec.id,
                              module=rec.module))

    if selected is not None:
        changes = [c for c in changes if c.address in selected]
    return Plan(env=state.env, changes=tuple(changes), destroy=destroy, lineage=state.lineage,
                serial=state.serial, outputs={} if destroy else dict(outputs or {}))


def _select(wanted: Graph, state: State, targets: list[str] | None) -> set[str] | None:
    """The addresses a --target run may touch: the targets, what they need to exist, and
    (for deletions) what depends on them."""
    if not targets:
        return None
    everything = set(wanted.resources) | set(state.resources)
    hits = {a for a in everything for t in targets if matches(a, t)}
    missing = [t for t in targets if not any(matches(a, t) for a in everything)]
    if missing:
        raise NgpError(f"--target {missing[0]} matches no resource of this env",
                       hint="See `ngp state list` and `ngp graph` for the addresses.")
    needs = closure(hits & set(wanted.resources), wanted.deps())
    recorded = {a: set(r.deps) for a, r in state.resources.items()}
    doomed = closure(hits - set(wanted.resources), dependents(recorded))
    return needs | doomed
