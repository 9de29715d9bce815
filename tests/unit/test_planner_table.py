"""The planner as a table, over made-up kinds (tests/fake_kinds.py): what the config wants,
what the state recorded and what AWS showed in; the plan's actions out, in order.

A case's observed map holds what a refresh saw: an address absent from it was not refreshed
(taken as recorded), one mapped to None is gone from AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from ngp.graph import UNKNOWN, Graph, Ref, Resource
from ngp.plan import Action, make_plan
from ngp.state import Recorded, State
from tests.fake_kinds import Existing, OtherThing, Thing, registered

THING, OTHER, EXISTING = Thing.name, OtherThing.name, Existing.name
C, U, R, D = Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE
READ, FORGET, NOOP, ADOPT = Action.READ, Action.FORGET, Action.NOOP, Action.ADOPT


@pytest.fixture(autouse=True)
def fake_kinds():
    with registered(Thing, OtherThing, Existing):
        yield


def want(kind: str = THING, **spec: Any) -> tuple[str, dict[str, Any]]:
    return kind, {"name": "a", "size": 1, **spec}


def rec(kind: str = THING, id: str = "thing-1", deps: tuple[str, ...] = (),
        **spec: Any) -> Recorded:
    spec = {"name": "a", "size": 1, **spec}
    return Recorded(kind, id, spec, {"id": id, "name": spec["name"]}, list(deps))


def live(id: str = "thing-1", **over: Any) -> dict[str, Any]:
    return {"id": id, "name": "a", "size": 1, "status": "available", **over}


LOOKUP = (EXISTING, {"query": "the-one"})  # a read-only object named by a query
FOUND = {"id": "ex-1", "arn": "arn:ex-1", "status": "available"}
KNOWN = Recorded(EXISTING, "ex-1", {"query": "the-one"}, {"id": "ex-1", "arn": "arn:ex-1"})


@dataclass(frozen=True)
class Case:
    id: str
    desired: dict[str, tuple[str, dict[str, Any]]]  # address -> (kind, spec)
    recorded: dict[str, Recorded]
    observed: dict[str, dict[str, Any] | None]
    actions: list[tuple[str, Action]]  # the plan's changes, in its order
    # address -> [(field, old, new, forces_replacement)], for the addresses given
    fields: dict[str, list[tuple[str, Any, Any, bool]]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str | None] = field(default_factory=dict)
    targets: list[str] | None = None
    destroy: bool = False
    adopt: dict[str, dict[str, Any]] = field(default_factory=dict)  # tagged, state lacks


CASES = [
    Case("adopt: tagged for the env at an address the state lacks, as wanted",
         {"x": want()}, {}, {}, [("x", ADOPT)], fields={"x": []}, ids={"x": "thing-9"},
         adopt={"x": live("thing-9")}),
    Case("adopt: what the read shows differs: adopted, then changed in place",
         {"x": want(size=2)}, {}, {}, [("x", ADOPT)], fields={"x": [("size", 1, 2, False)]},
         adopt={"x": live("thing-9")}),
    Case("adopt: a field no read shows is set again, never forces a replacement",
         {"x": want(secret="s")}, {}, {}, [("x", ADOPT)],
         fields={"x": [("secret", None, "s", False)]}, adopt={"x": live("thing-9")}),
    Case("adopt: a shown field that forces a replacement: adopted, replaced next plan",
         {"x": want(name="b")}, {}, {}, [("x", ADOPT)], fields={"x": [("name", "a", "b", True)]},
         adopt={"x": live("thing-9")}),
    Case("adopt: what uses it knows its outputs (no change for it)",
         {"x": want(), "y": want(parent=Ref("x", "id"))},
         {"y": rec(id="thing-2", deps=("x",), parent="thing-9")}, {"y": live("thing-2")},
         [("x", ADOPT), ("y", NOOP)], adopt={"x": live("thing-9")}),
    Case("adopt: a recorded address is never adopted over",
         {"x": want()}, {"x": rec()}, {"x": live()}, [("x", NOOP)],
         adopt={"x": live("thing-9")}),
    Case("create: nothing recorded",
         {"x": want()}, {}, {},
         [("x", C)], fields={"x": [("name", None, "a", False), ("size", None, 1, False)]},
         ids={"x": None}),
    Case("no-op: recorded and live as wanted",
         {"x": want()}, {"x": rec()}, {"x": live()},
         [("x", NOOP)]),
    Case("no-op: not refreshed is taken as recorded",
         {"x": want()}, {"x": rec()}, {},
         [("x", NOOP)]),
    Case("no-op: a field the read cannot see is taken as last applied",
         {"x": want(secret="s")}, {"x": rec(secret="s")}, {"x": live()},
         [("x", NOOP)]),
    Case("update: an in-place field changed in the config",
         {"x": want(size=2)}, {"x": rec()}, {"x": live()},
         [("x", U)], fields={"x": [("size", 1, 2, False)]}, reasons={"x": ""},
         ids={"x": "thing-1"}),
    Case("update: drift outside ngp is planned back, saying so",
         {"x": want()}, {"x": rec()}, {"x": live(size=3)},
         [("x", U)], fields={"x": [("size", 3, 1, False)]},
         reasons={"x": "changed outside ngp"}),
    Case("update: a field added to the config",
         {"x": want(color="red")}, {"x": rec()}, {"x": live()},
         [("x", U)], fields={"x": [("color", None, "red", False)]}),
    Case("replace: a replace_on field changed",
         {"x": want(name="b")}, {"x": rec()}, {"x": live()},
         [("x", R)], fields={"x": [("name", "a", "b", True)]}),
    Case("replace: with an in-place field changed too, each flagged as it is",
         {"x": want(name="b", size=2)}, {"x": rec()}, {"x": live()},
         [("x", R)], fields={"x": [("name", "a", "b", True), ("size", 1, 2, False)]}),
    Case("replace: the kind at an address changed",
         {"x": want(OTHER)}, {"x": rec()}, {"x": live()},
         [("x", R)], fields={"x": []}, reasons={"x": f"kind changed from {THING}"},
         ids={"x": "thing-1"}),
    Case("replace: a kind change wins over an equal spec, even unrefreshed",
         {"x": want(OTHER)}, {"x": rec()}, {},
         [("x", R)], reasons={"x": f"kind changed from {THING}"}),
    Case("create: recorded but gone from AWS",
         {"x": want()}, {"x": rec()}, {"x": None},
         [("x", C)], fields={"x": [("name", None, "a", False), ("size", None, 1, False)]},
         reasons={"x": "deleted outside ngp"}, ids={"x": None}),
    Case("delete: recorded and no longer wanted",
         {}, {"x": rec()}, {"x": live()},
         [("x", D)], ids={"x": "thing-1"}),
    Case("delete: dependents before what they used",
         {}, {"x": rec(), "y": rec(id="thing-2", deps=("x",))}, {},
         [("y", D), ("x", D)]),
    Case("read: a read-only lookup seen for the first time",
         {"e": LOOKUP}, {}, {"e": FOUND},
         [("e", READ)], ids={"e": "ex-1"}),
    Case("no-op: a read-only lookup that finds what is recorded",
         {"e": LOOKUP}, {"e": KNOWN}, {"e": FOUND},
         [("e", NOOP)], ids={"e": "ex-1"}),
    Case("read: a read-only lookup that now finds another object",
         {"e": LOOKUP}, {"e": KNOWN}, {"e": {**FOUND, "id": "ex-2", "arn": "arn:ex-2"}},
         [("e", READ)], ids={"e": "ex-2"}),
    Case("read: a read-only object whose outputs changed",
         {"e": LOOKUP}, {"e": KNOWN}, {"e": {**FOUND, "arn": "arn:renamed"}},
         [("e", READ)]),
    Case("forget: a read-only object no longer wanted (never deleted)",
         {}, {"e": KNOWN}, {},
         [("e", FORGET)], ids={"e": "ex-1"}),
    Case("a read-only object's outputs are known to what uses it",
         {"e": LOOKUP, "x": want(parent=Ref("e", "arn"))}, {}, {"e": FOUND},
         [("e", READ), ("x", C)],
         fields={"x": [("name", None, "a", False), ("parent", None, "arn:ex-1", False),
                       ("size", None, 1, False)]}),
    Case("a replaced object's outputs are unknown to what uses it",
         {"x": want(name="b"), "y": want(parent=Ref("x", "name"))},
         {"x": rec(), "y": rec(id="thing-2", deps=("x",), parent="a")}, {},
         [("x", R), ("y", U)], fields={"y": [("parent", "a", UNKNOWN, False)]}),
    Case("destroy: everything recorded, dependents first, read-only forgotten",
         {"e": LOOKUP, "x": want(), "y": want(parent=Ref("x"))},
         {"e": KNOWN, "x": rec(), "y": rec(id="thing-2", deps=("x",), parent="thing-1")},
         {"x": live()},
         [("y", D), ("x", D), ("e", FORGET)], destroy=True),
    Case("destroy: nothing recorded, nothing to do",
         {"x": want()}, {}, {}, [], destroy=True),
    Case("targets: the target and what it needs, nothing else",
         {"x": want(), "y": want(parent=Ref("x")), "z": want()}, {}, {},
         [("x", C), ("y", C)], targets=["y"]),
    Case("targets: a target with no dependencies alone",
         {"x": want(), "y": want(parent=Ref("x")), "z": want()}, {}, {},
         [("x", C)], targets=["x"]),
    Case("targets: a recorded target no longer wanted takes its dependents along",
         {}, {"x": rec(), "y": rec(id="thing-2", deps=("x",)), "z": rec(id="thing-3")}, {},
         [("y", D), ("x", D)], targets=["x"]),
    Case("targets: a destroy of one target takes its dependents, not what it used",
         {"x": want(), "y": want(parent=Ref("x"))},
         {"x": rec(), "y": rec(id="thing-2", deps=("x",), parent="thing-1")}, {},
         [("y", D)], targets=["y"], destroy=True),
    Case("targets: a module selects every address under it",
         {"m.a": want(), "m.b[1]": want(), "n.c": want()}, {}, {},
         [("m.a", C), ("m.b[1]", C)], targets=["m"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_plan(case: Case):
    graph = Graph.of([Resource(address, kind, spec)
                      for address, (kind, spec) in case.desired.items()])
    state = State(env="t", resources=dict(case.recorded))
    plan = make_plan(graph, state, case.observed, targets=case.targets, destroy=case.destroy,
                     adopt=case.adopt)
    assert [(c.address, c.action) for c in plan.changes] == case.actions
    changes = {c.address: c for c in plan.changes}
    for address, expected in case.fields.items():
        assert [(f.name, f.old, f.new, f.forces_replacement)
                for f in changes[address].fields] == expected, address
    for address, reason in case.reasons.items():
        assert changes[address].reason == reason, address
    for address, id in case.ids.items():
        assert changes[address].id == id, address


def test_the_table_covers_every_action():
    assert {action for case in CASES for _, action in case.actions} == set(Action)


def test_the_fake_kinds_leave_the_registry_as_they_found_it():
    from ngp.resources import KINDS

    class Extra(Thing):
        name = "test.extra"

    before = dict(KINDS)
    with registered(Extra):
        assert "test.extra" in KINDS
    assert before == KINDS
    with pytest.raises(RuntimeError, match="registered twice"), registered(Extra, Thing):
        pass  # Thing is the fixture's: refused, and left registered
    assert before == KINDS
