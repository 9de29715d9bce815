"""What the env owns by its tags (ngp.engine.owned), over made-up kinds: which lineage
counts, what is adopted, what stops the plan. No AWS: the listings are given."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ngp.engine import owned
from ngp.errors import NgpError
from ngp.graph import Graph, Resource
from ngp.state import Recorded, State
from tests.fake_kinds import OtherThing, Thing, registered

THING = Thing.name


@pytest.fixture(autouse=True)
def fake_kinds():
    with registered(Thing, OtherThing):
        yield


def tags(address: str | None, lineage: str = "old", env: str = "e") -> dict[str, str]:
    found = {"ngp:env": env, "ngp:lineage": lineage}
    if address:
        found["ngp:address"] = address
    return found


def run(recorded: dict[str, Recorded] | None = None, wanted: tuple[str, ...] = ("x", "y")
        ) -> Any:
    graph = Graph.of([Resource(a, THING, {"name": a}) for a in wanted])
    state = State(env="e", lineage="now", resources=dict(recorded or {}))
    return SimpleNamespace(state=state, ctx=SimpleNamespace(env="e"),
                           desired=SimpleNamespace(graph=graph))


def listing(**objs: dict[str, str]) -> owned.Listings:
    return {THING: {id: {"id": id, "name": id, "tags": t} for id, t in objs.items()}}


def test_an_empty_state_takes_any_lineage_of_the_env():
    found = owned.adoptions(run(), listing(a=tags("x", "old"), b=tags("y", "older")))
    assert {a: live["id"] for a, live in found.items()} == {"x": "a", "y": "b"}


def test_a_state_takes_its_own_lineage_and_its_objects():
    recorded = {"x": Recorded(THING, "a", {"name": "x"}, {"id": "a"})}
    # a: recorded, its lineage "old" counts; c: "now" is the state's; b: a lineage of none.
    lists = listing(a=tags("x", "old"), b=tags("y", "stranger"))
    assert owned.adoptions(run(recorded), lists) == {}
    lists = listing(a=tags("x", "old"), c=tags("y", "now"))
    assert owned.adoptions(run(recorded), lists)["y"]["id"] == "c"


def test_other_envs_objects_without_address_and_other_kinds_are_not_adopted():
    lists = listing(a=tags("x", env="other"), b=tags(None))
    lists["test.other_thing"] = {"c": {"id": "c", "tags": tags("y")}}
    assert owned.adoptions(run(), lists) == {}


def test_two_objects_of_one_address_stop_naming_both():
    with pytest.raises(NgpError) as caught:
        owned.adoptions(run(), listing(a=tags("x"), b=tags("x")))
    assert caught.value.where == "x"
    assert "a and b" in caught.value.summary


def test_unknown_are_what_the_state_does_not_record():
    recorded = {"x": Recorded(THING, "a", {"name": "x"}, {"id": "a"})}
    found = owned.unknown(run(recorded), listing(a=tags("x", "now"), b=tags("x", "now"),
                                                 c=tags("gone.z", "now")))
    assert [(o.address, o.id) for o in found] == [("x", "b"), ("gone.z", "c")]


def test_a_saved_plan_keeps_what_an_adoption_records(tmp_path):
    from ngp import plan_file
    from ngp.plan import Action, make_plan

    graph = Graph.of([Resource("x", THING, {"name": "a", "size": 2})])
    plan = make_plan(graph, State(env="e"), {}, adopt={"x": {"id": "t-9", "name": "a",
                                                             "size": 1}})
    path = tmp_path / "adopt.plan"
    plan_file.save(plan, path, "digest")
    change = plan_file.load(path).plan.changes[0]
    assert (change.action, change.id) == (Action.ADOPT, "t-9")
    assert change.adopted == {"id": "t-9", "name": "a", "size": 1}
    assert [(f.name, f.old, f.new) for f in change.fields] == [("size", 1, 2)]
