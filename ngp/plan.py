"""Plans as plain values, and the one pure function that makes them.

make_plan compares what the config wants (the graph), what ngp recorded (the state) and
what AWS has (observed, from a refresh). It makes no AWS call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ngp.errors import NgpError
from ngp.graph import (
    UNKNOWN,
    Graph,
    Ref,
    closure,
    dependents,
    has_unknown,
    matches,
    resolve,
    stable_order,
)
from ngp.resources import get_kind
from ngp.resources.base import NGP_TAGS, TAG_ADDRESS, TAG_ENV, TAG_LINEAGE
from ngp.state import State


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    # What AWS has is recorded, nothing in AWS changes: a read-only object (an adopted VPC)
    # looked up, or (--refresh-only) drift accepted into the state.
    READ = "read"
    # An object leaves the state; nothing in AWS changes: a read-only object no longer
    # wanted, or (--refresh-only) one gone from AWS.
    FORGET = "forget"
    # An object tagged for the env at an address the state lacks (the state was lost, or a
    # line of it) enters the state, and is changed where it differs: never made twice.
    ADOPT = "adopt"
    NOOP = "no-op"


MUTATING = {Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.ADOPT}


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
    # An adoption's live object (its id, outputs and the fields a read shows).
    adopted: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


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
    refresh_only: bool = False  # only records what AWS has (make_refresh_plan)

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action not in (Action.NOOP,))

    @property
    def has_changes(self) -> bool:
        """Something to apply: a change to AWS, or (refresh-only) to the state."""
        if self.refresh_only:
            return bool(self.actionable)
        return any(c.action in MUTATING for c in self.changes)

    def counts(self) -> dict[str, int]:
        return counts(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "destroy": self.destroy,
            "refresh_only": self.refresh_only,
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


def counts(changes: tuple[Change, ...] | list[Change]) -> dict[str, int]:
    """The summary line's numbers: a replacement is one to add and one to destroy."""
    add = sum(c.action in (Action.CREATE, Action.REPLACE) for c in changes)
    change = sum(c.action == Action.UPDATE for c in changes)
    destroy = sum(c.action in (Action.DELETE, Action.REPLACE) for c in changes)
    return {"add": add, "change": change, "destroy": destroy}


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
    replace: list[str] | None = None,
    adopt: dict[str, dict[str, Any]] | None = None,
) -> Plan:
    """What to do to make AWS match the graph.

    observed maps each refreshed address to its live object, or None when it is gone;
    an address absent from observed was not refreshed and is taken as recorded. Each
    address in replace is rebuilt even if it matches (Terraform's -replace); what uses it
    changes only where its spec does (a new id), as for any replacement. adopt maps a
    wanted address the state lacks to the live object tagged for it (ngp.engine.owned):
    it is adopted, not created.
    """
    adopt = adopt or {}
    wanted = Graph() if destroy else graph
    forced = _check_replace(wanted, state, replace or [], destroy)
    selected = _select(wanted, state, [*targets, *forced] if targets else None)
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

        if rec is None and address in adopt:
            change = _adoption(kind, spec, adopt[address], common)
            changed = {f.name for f in change.fields}
            known[address] = {k: UNKNOWN if k in changed else v
                              for k, v in kind.outputs_of(adopt[address]).items()}
            changes.append(change)
            continue

        if rec is None or rec.kind != res.kind or (address in observed and live is None):
            # To be made: only what its spec decides is known (a key pair's name); a
            # replacement is not made yet either, but its old half's delete may cut off
            # what uses it (a role leaves its profile), so nothing of it is known.
            known[address] = _echoed(kind, spec) if rec is None or rec.kind == res.kind \
                else None
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
            "imported or moved: ngp writes its tags" if NGP_TAGS in rec.spec else ""
        if not fields and address not in forced:
            known[address] = {**rec.outputs, **(kind.outputs_of(live) if live else {})}
            changes.append(Change(action=Action.NOOP, **common))
        elif address in forced or any(f.forces_replacement for f in fields):
            known[address] = None
            why = "requested with --replace" if address in forced else ""
            changes.append(Change(action=Action.REPLACE, fields=tuple(fields),
                                  reason="; ".join(filter(None, [why, reason])),
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


def _echoed(kind: Any, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The outputs of an object still to be made that its spec already says (Kind.echoes)."""
    said = {out: spec[name] for out, name in kind.echoes.items()
            if name in spec and not has_unknown(spec[name])}
    return said or None


def _adoption(kind: Any, spec: dict[str, Any], live: dict[str, Any],
              common: dict[str, Any]) -> Change:
    """Adopting a live object, as an interrupted create's is adopted: a field no read shows
    is the config's if one create call set it (created_whole), else it is set again (an
    update); what the read shows is compared. A field no read shows never forces a
    replacement (nothing says it differs); one the read shows does, on the next plan."""
    visible = {k: live[k] for k in spec if k in live}
    before = kind.canonical({**(spec if kind.created_whole else {}), **visible})
    fields = _diff(kind.name, spec, {k: before.get(k) for k in spec})
    fields = [f if f.name in visible else FieldChange(f.name, f.old, f.new) for f in fields]
    reason = "tagged for this env at this address; not in the state"
    forced = [f.name for f in fields if f.forces_replacement]
    if forced:
        reason += f"; {', '.join(forced)} differ(s), which forces a replacement: the next " \
            "plan replaces it"
    elif fields:
        reason += "; then changed to match the configuration"
    adopted = {**visible, **kind.outputs_of(live), "id": live["id"]}
    return Change(action=Action.ADOPT, fields=tuple(fields), reason=reason, before=before,
                  adopted=adopted, **{**common, "id": live["id"]})


def _check_replace(wanted: Graph, state: State, replace: list[str], destroy: bool) -> set[str]:
    """The addresses --replace names, each one ngp made and the config still wants."""
    if replace and destroy:
        raise NgpError("--replace cannot be used with --destroy",
                       hint="A destroy deletes everything anyway; drop one of them.")
    for address in replace:
        res, rec = wanted.resources.get(address), state.resources.get(address)
        if res is None and rec is None:
            raise NgpError(f"--replace {address}: no resource of env {state.env!r} has this "
                           "address", hint="See `ngp state list` for the addresses (--replace "
                           "takes one whole address, not a module or prefix).")
        if res is None:
            raise NgpError(f"--replace {address}: it is no longer in the configuration, so "
                           "the plan deletes it", hint="Drop --replace for it.")
        if get_kind(res.kind, where=address).read_only:
            raise NgpError(f"--replace {address}: a {res.kind} is looked up, not made by "
                           "ngp, so ngp cannot replace it", hint="Replace it outside ngp; the "
                           "next plan looks it up again.")
    return set(replace)


def make_refresh_plan(
    state: State,
    observed: dict[str, dict[str, Any] | None],
    *,
    outputs: dict[str, Any] | None = None,
) -> Plan:
    """What `--refresh-only` records: drift accepted into the state instead of undone.

    For each recorded object AWS shows otherwise than the state, a READ whose fields are
    recorded -> live (the state takes what AWS has); for each gone from AWS, a FORGET. No
    change makes an AWS call, and the config is not consulted (but for the env's outputs,
    recorded again): the next normal plan then proposes to change drifted objects back to
    the config, and to create forgotten ones again, as Terraform's does.
    """
    recorded_deps = {a: set(r.deps) & state.resources.keys() for a, r in state.resources.items()}
    changes: list[Change] = []
    for address in stable_order(recorded_deps):
        if address not in observed:
            continue  # not refreshed: taken as recorded
        rec, live = state.resources[address], observed[address]
        kind = get_kind(rec.kind, where=address)
        common: dict[str, Any] = {"address": address, "kind": rec.kind, "module": rec.module,
                                  "id": rec.id, "deps": tuple(rec.deps)}
        if live is None:
            changes.append(Change(action=Action.FORGET, reason="deleted outside ngp: "
                                  "forgotten from the state", **common))
            continue
        # Fields the read cannot see cheaply are kept as last applied.
        spec = kind.canonical({**rec.spec, **{k: live[k] for k in rec.spec if k in live}})
        shown = kind.outputs_of(live)
        seen = {**rec.outputs, **shown}
        fields = [FieldChange(n, rec.spec.get(n), spec.get(n))
                  for n in sorted(set(spec) | set(rec.spec)) if spec.get(n) != rec.spec.get(n)]
        fields += [FieldChange(f"outputs.{n}", rec.outputs.get(n), seen[n])
                   for n in sorted(seen) if seen[n] != rec.outputs.get(n)]
        if kind.read_only and live["id"] != rec.id:  # the lookup finds another object now
            fields.insert(0, FieldChange("id", rec.id, live["id"]))
        action = Action.READ if fields else Action.NOOP
        reason = "changed outside ngp: the state takes what AWS has" if fields else ""
        # What the apply records, and no more of the live object (a saved plan holds it).
        changes.append(Change(action=action, fields=tuple(fields), reason=reason, spec=spec,
                              before={"id": live.get("id", rec.id), **shown}, **common))
    return Plan(env=state.env, changes=tuple(changes), lineage=state.lineage,
                serial=state.serial, outputs=dict(outputs or {}), refresh_only=True)


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
