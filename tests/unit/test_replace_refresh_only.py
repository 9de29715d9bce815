"""`--replace ADDR` and `--refresh-only` (issue 17), over made-up kinds: the planner's cases
(pure, tests/unit/test_planner_table.py's helpers), then whole runs of the engine, which
show that a refresh-only apply writes the state and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from ngp import engine, plan_file
from ngp.errors import NgpError
from ngp.graph import UNKNOWN, Graph, Ref, Resource
from ngp.plan import Action, make_plan, make_refresh_plan
from ngp.resources import Context
from ngp.state import Recorded, State
from tests.fake_kinds import Existing, Thing, registered
from tests.unit.test_engine_fake_kinds import make_run
from tests.unit.test_planner_table import FOUND, KNOWN, LOOKUP, live, rec, want

THING, EXISTING = Thing.name, Existing.name
C, U, R, D = Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE
READ, FORGET, NOOP = Action.READ, Action.FORGET, Action.NOOP


@pytest.fixture(autouse=True)
def fake_kinds():
    with registered(Thing, Existing):
        yield


def plan_of(desired: dict[str, tuple[str, dict]], recorded: dict[str, Recorded],
            observed: dict[str, Any], **options: Any):
    graph = Graph.of([Resource(a, kind, spec) for a, (kind, spec) in desired.items()])
    return make_plan(graph, State(env="t", resources=dict(recorded)), observed, **options)


def actions(plan) -> list[tuple[str, Action]]:
    return [(c.address, c.action) for c in plan.changes]


# -- --replace: the planner --------------------------------------------------------------------


def test_replace_rebuilds_a_matching_object_and_only_what_its_new_outputs_change():
    plan = plan_of(
        {"x": want(), "y": want(parent=Ref("x", "id")), "z": want()},
        {"x": rec(), "y": rec(id="thing-2", deps=("x",), parent="thing-1"),
         "z": rec(id="thing-3")},
        {"x": live(), "y": live("thing-2", parent="thing-1"), "z": live("thing-3")},
        replace=["x"])
    assert actions(plan) == [("x", R), ("z", NOOP), ("y", U)]
    x, y = plan.changes[0], plan.changes[2]
    assert (x.reason, x.fields, x.id) == ("requested with --replace", (), "thing-1")
    assert [(f.name, f.old, f.new) for f in y.fields] == [("parent", "thing-1", UNKNOWN)]
    assert plan.counts() == {"add": 1, "change": 1, "destroy": 1}


def test_a_plan_with_unchanged_objects_keeps_the_envs_outputs():
    # A no-op's outputs once overwrote the env's in the plan, so an `up` that changed one
    # object recorded that object's outputs as the env's.
    wanted = {"vpc_id": Ref("x", "id"), "names": [Ref("x", "name"), Ref("y", "name")]}
    plan = plan_of({"x": want(), "y": want()}, {"x": rec(), "y": rec(id="thing-2")},
                   {"x": live()}, replace=["y"], outputs=wanted)
    assert actions(plan) == [("x", NOOP), ("y", R)]
    assert plan.outputs == wanted


def test_replace_says_so_alongside_drift_and_keeps_the_fields():
    plan = plan_of({"x": want()}, {"x": rec()}, {"x": live(size=3)}, replace=["x"])
    (x,) = plan.changes
    assert x.action == R
    assert x.reason == "requested with --replace; changed outside ngp"
    assert [(f.name, f.old, f.new) for f in x.fields] == [("size", 3, 1)]


def test_replace_of_what_is_gone_or_not_made_yet_is_a_create():
    gone = plan_of({"x": want()}, {"x": rec()}, {"x": None}, replace=["x"])
    assert actions(gone) == [("x", C)]
    new = plan_of({"x": want()}, {}, {}, replace=["x"])
    assert actions(new) == [("x", C)]


def test_replace_with_targets_takes_the_replaced_object_along():
    plan = plan_of({"x": want(), "y": want()}, {"x": rec(), "y": rec(id="thing-2")}, {},
                   targets=["y"], replace=["x"])
    assert actions(plan) == [("x", R), ("y", NOOP)]


@pytest.mark.parametrize("desired, recorded, options, says", [
    ({"x": want()}, {"x": rec()}, {"replace": ["nope.x"]},
     "--replace nope.x: no resource of env 't' has this address. See `ngp state list`"),
    ({"x": want()}, {"x": rec()}, {"replace": ["x", "x[0]"]}, "--replace x[0]: no resource"),
    ({}, {"x": rec()}, {"replace": ["x"]},
     "--replace x: it is no longer in the configuration, so the plan deletes it"),
    ({"e": LOOKUP}, {"e": KNOWN}, {"replace": ["e"]},
     "--replace e: a test.existing is looked up, not made by ngp, so ngp cannot replace it"),
    ({"x": want()}, {"x": rec()}, {"replace": ["x"], "destroy": True},
     "--replace cannot be used with --destroy"),
])
def test_replace_refuses_what_it_cannot_rebuild_in_one_line(desired, recorded, options, says):
    with pytest.raises(NgpError) as caught:
        plan_of(desired, recorded, {"e": FOUND}, **options)
    assert says in caught.value.line()
    assert "\n" not in caught.value.line()


# -- --refresh-only: the planner ---------------------------------------------------------------


def refresh_plan(recorded: dict[str, Recorded], observed: dict[str, Any]):
    return make_refresh_plan(State(env="t", resources=dict(recorded)), observed)


def test_refresh_only_records_what_aws_has_and_forgets_what_is_gone():
    plan = refresh_plan(
        {"x": rec(), "y": rec(id="thing-2"), "z": rec(id="thing-3"), "w": rec(id="thing-4")},
        {"x": live(size=3), "y": None, "z": live("thing-3")})  # w: not refreshed
    assert actions(plan) == [("x", READ), ("y", FORGET), ("z", NOOP)]
    x, y = plan.changes[:2]
    assert [(f.name, f.old, f.new) for f in x.fields] == [("size", 1, 3)]
    assert x.spec == {"name": "a", "size": 3}  # what the state will hold
    assert x.before == {"id": "thing-1", "name": "a"}  # of the live object, what is recorded
    assert x.reason == "changed outside ngp: the state takes what AWS has"
    assert y.reason == "deleted outside ngp: forgotten from the state"
    assert plan.refresh_only and plan.has_changes
    assert plan.counts() == {"add": 0, "change": 0, "destroy": 0}  # nothing in AWS


def test_refresh_only_keeps_what_the_read_cannot_see_and_sees_new_outputs():
    plan = refresh_plan({"x": rec(secret="s")}, {"x": live(name="b")})
    (x,) = plan.changes
    assert x.spec == {"name": "b", "size": 1, "secret": "s"}
    assert [(f.name, f.old, f.new) for f in x.fields] == [("name", "a", "b"),
                                                           ("outputs.name", "a", "b")]


def test_refresh_only_with_no_drift_has_nothing_to_do():
    plan = refresh_plan({"x": rec()}, {"x": live()})
    assert actions(plan) == [("x", NOOP)]
    assert not plan.actionable and not plan.has_changes


def test_refresh_only_reads_a_lookup_that_now_finds_another_object():
    plan = refresh_plan({"e": KNOWN}, {"e": {**FOUND, "id": "ex-2", "arn": "arn:ex-2"}})
    (e,) = plan.changes
    assert e.action == READ
    assert [(f.name, f.old, f.new) for f in e.fields] == [
        ("id", "ex-1", "ex-2"), ("outputs.arn", "arn:ex-1", "arn:ex-2"),
        ("outputs.id", "ex-1", "ex-2")]


# -- whole runs: what reaches the (fake) cloud -------------------------------------------------


class Cloud(Thing):
    """A made object whose live copy is a dict here, every write to it counted."""

    name = "test.cloud"
    live: dict[str, dict[str, Any]] = {}
    writes: list[str] = []

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {id: dict(self.live[id]) for id in ids if id in self.live}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        id, outputs = super().create(ctx, address, spec)
        self.writes.append(f"create {address}")
        self.live[id] = {"id": id, **spec}
        return id, outputs

    def update(self, ctx: Context, id: str, old: dict[str, Any], new: dict[str, Any]) -> dict:
        self.writes.append(f"update {id}")
        self.live[id].update(new)
        return {}

    def delete(self, ctx: Context, id: str) -> None:
        self.writes.append(f"delete {id}")
        self.live.pop(id, None)


@pytest.fixture
def cloud():
    Cloud.live, Cloud.writes = {}, []
    with registered(Cloud):
        yield Cloud


def resources() -> list[Resource]:
    return [Resource("a", Cloud.name, {"name": "a", "size": 1}),
            Resource("b", Cloud.name, {"name": "b", "size": 1, "x": Ref("a", "id")}),
            Resource("c", Cloud.name, {"name": "c", "size": 1})]


def up(tmp_path, **options: Any) -> engine.Run:
    run = make_run(tmp_path, resources())
    engine.check(engine.apply(run, engine.plan(run, **options)))
    return run


def test_up_refresh_only_writes_the_state_and_nothing_in_aws(tmp_path, cloud):
    run = up(tmp_path)
    ids = {a: r.id for a, r in run.state.resources.items()}
    cloud.live[ids["a"]]["size"] = 5  # drift, by hand
    del cloud.live[ids["c"]]  # deleted by hand
    cloud.writes.clear()
    serial = run.state.serial

    run = make_run(tmp_path, resources())
    plan = engine.plan(run, refresh_only=True)
    assert {c.address: c.action for c in plan.actionable} == {"a": READ, "c": FORGET}
    summary = engine.apply(run, plan)
    engine.check(summary)
    assert summary.done == {"recorded": 1, "forgotten": 1}
    assert cloud.writes == []  # no create, update or delete
    state = make_run(tmp_path, resources()).state
    assert state.serial > serial
    assert state.resources["a"].spec["size"] == 5 and state.resources["a"].id == ids["a"]
    assert "c" not in state.resources and state.resources["b"] == run.state.resources["b"]

    # The drift is in the state now: a normal plan changes it back to the config (no longer
    # "changed outside ngp") and makes again what was forgotten.
    again = engine.plan(make_run(tmp_path, resources()))
    changes = {c.address: c for c in again.actionable}
    assert {a: c.action for a, c in changes.items()} == {"a": U, "c": C}
    assert changes["a"].reason == ""
    assert [(f.name, f.old, f.new) for f in changes["a"].fields] == [("size", 5, 1)]
    assert engine.plan(make_run(tmp_path, resources()), refresh_only=True).actionable == ()


def test_a_saved_refresh_only_plan_applies_as_it_was_planned(tmp_path, cloud):
    run = up(tmp_path)
    cloud.live[run.state.resources["a"].id]["name"] = "renamed"
    cloud.writes.clear()
    run = make_run(tmp_path, resources())
    path = tmp_path / "drift.plan"
    plan_file.save(engine.plan(run, refresh_only=True), path, "digest")
    saved = plan_file.load(path)
    assert saved.plan.refresh_only
    saved.check_fresh(run.state, "digest")
    engine.check(engine.apply(run, saved.plan))
    assert cloud.writes == []
    assert make_run(tmp_path, resources()).state.resources["a"].spec["name"] == "renamed"
    assert make_run(tmp_path, resources()).state.resources["a"].outputs["name"] == "renamed"


def test_refresh_only_refuses_options_that_change_aws(tmp_path, cloud):
    run = up(tmp_path)
    for options in ({"targets": ["a"]}, {"replace": ["a"]}, {"destroy": True}):
        with pytest.raises(NgpError, match="--refresh-only cannot be used with"):
            engine.plan(run, refresh_only=True, **options)


def test_up_replace_rebuilds_one_object_and_updates_what_uses_its_id(tmp_path, cloud):
    run = up(tmp_path)
    before = {a: r.id for a, r in run.state.resources.items()}
    cloud.writes.clear()
    run = up(tmp_path, replace=["a"])
    after = {a: r.id for a, r in run.state.resources.items()}
    assert after["a"] != before["a"] and after["a"] in cloud.live
    assert before["a"] not in cloud.live
    assert (after["b"], after["c"]) == (before["b"], before["c"])
    assert run.state.resources["b"].spec["x"] == after["a"]
    assert sorted(cloud.writes) == ["create a", f"delete {before['a']}",
                                    f"update {before['b']}"]
    assert engine.plan(make_run(tmp_path, resources())).actionable == ()
