"""`ngp state rebuild` and a gate that only waits (marathon.ready): what was found is saved
before the gate is waited for, and a gate that does not answer is said, not fatal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ngp import engine
from ngp.errors import NgpError
from ngp.graph import Ref, Resource
from ngp.resources import Context
from tests.fake_kinds import Existing, Thing, registered
from tests.unit.test_engine_fake_kinds import make_run


class Lookup(Existing):
    """A read-only lookup (recorded by a rebuild as a READ)."""

    name = "test.lookup"
    outputs = ("id", "arn")

    def lookup(self, ctx: Context, spec: dict[str, Any]) -> dict[str, Any] | None:
        return {"id": "found-1", "arn": "arn:found-1"}


class Gate(Thing):
    """Waits for a cluster that never answers."""

    name = "test.gate"
    only_waits = True
    waited = 0

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        type(self).waited += 1
        raise NgpError("the cluster at http://masters did not answer within 1s")


@pytest.fixture(autouse=True)
def kinds():
    Gate.waited = 0
    with registered(Lookup, Gate):
        yield


def test_a_gate_that_does_not_answer_is_said_and_what_was_found_is_kept(tmp_path):
    resources = [Resource("found", Lookup.name, {"name": "x"}),
                 Resource("gate", Gate.name, {"name": "g", "x": Ref("found", "arn")})]
    notes = engine.rebuild_state(make_run(tmp_path, resources))
    assert Gate.waited == 1
    assert notes == ["gate: the cluster at http://masters did not answer within 1s; the next "
                     "`ngp up` waits again"]
    state = json.loads((tmp_path / "state" / "t.json").read_text())
    assert set(state["resources"]) == {"found"}
