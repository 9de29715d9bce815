"""The engine's refresh and apply over made-up kinds (no AWS behind them): lookups kept once
made (`lookup_once`), and the bound on concurrent steps per AWS service
(`service_parallelism`)."""

from __future__ import annotations

import dataclasses
import itertools
import textwrap
import threading
import time
from collections import Counter
from typing import Any

import pytest

from ngp import engine
from ngp.aws import Aws
from ngp.config import Project
from ngp.graph import Graph, Resource
from ngp.plan import Action
from ngp.resources import Context
from ngp.state import LocalStore
from tests.conftest import TEST_CREDENTIALS
from tests.fake_kinds import Existing, Quiet, Thing, registered

ENV = """
region = "us-east-1"
allowed_account_ids = ["123456789012"]
modules = ["network"]
parallelism = 10
service_parallelism = {{ slow = {slow} }}

[network]
availability_zones = 1
nat = "none"
admin_cidrs = ["203.0.113.0/24"]
"""




def make_run(tmp_path, resources: list[Resource], slow: int = 10) -> engine.Run:
    """A run of an env whose graph is made of the given resources, its state on disk."""
    envs = tmp_path / "envs"
    envs.mkdir(exist_ok=True)
    (envs / "t.toml").write_text(textwrap.dedent(ENV.format(slow=slow)))
    project = Project(tmp_path)
    settings = project.load("t", {})
    desired = dataclasses.replace(engine.build_desired(settings), graph=Graph.of(resources),
                                  outputs={}, warnings=[])
    store = LocalStore(project.state_dir, "t")
    project.state_dir.mkdir(exist_ok=True)
    # An endpoint nothing listens on: the made-up kinds make no AWS call.
    aws = Aws("us-east-1", endpoint_url="http://127.0.0.1:9", credentials=TEST_CREDENTIALS)
    return engine.Run(settings, desired, aws, store, store.load(), Quiet())


# -- lookup_once -----------------------------------------------------------------------------


class Releases(Existing):
    """A read-only lookup whose answer changes with every call: a new image each time."""

    name = "test.releases"
    outputs = ("id", "release")
    calls = 0

    def lookup(self, ctx: Context, spec: dict[str, Any]) -> dict[str, Any] | None:
        type(self).calls += 1
        return {"id": f"img-{type(self).calls}", "release": type(self).calls}


class Image(Releases):
    """The same, kept once looked up until its spec changes."""

    name = "test.image"
    lookup_once = True
    calls = 0


@pytest.fixture
def lookups():
    Releases.calls = Image.calls = 0
    with registered(Releases, Image):
        yield


def graph(pattern: str = "ubuntu-*") -> list[Resource]:
    return [Resource("image", Image.name, {"name": pattern}),
            Resource("latest", Releases.name, {"name": pattern})]


def planned(run: engine.Run) -> dict[str, tuple[Action, str | None]]:
    return {c.address: (c.action, c.id) for c in engine.plan(run).changes}


def test_a_lookup_once_kind_keeps_its_recorded_result_until_its_spec_changes(tmp_path,
                                                                              lookups):
    run = make_run(tmp_path, graph())
    assert planned(run) == {"image": (Action.READ, "img-1"), "latest": (Action.READ, "img-1")}
    run = make_run(tmp_path, graph())
    engine.check(engine.apply(run, engine.plan(run)))
    assert (Image.calls, Releases.calls) == (2, 2)
    assert run.state.resources["image"].id == "img-2"

    # Looked up again: the plain lookup finds the newer release, the kept one is not asked.
    run = make_run(tmp_path, graph())
    assert engine.refresh(run)["image"] == {"id": "img-2", "release": 2}
    assert Image.calls == 2
    assert planned(run) == {"image": (Action.NOOP, "img-2"), "latest": (Action.READ, "img-4")}
    assert Image.calls == 2

    # Its spec changed: looked up anew.
    run = make_run(tmp_path, graph("ubuntu-24.04-*"))
    assert planned(run)["image"] == (Action.READ, "img-3")
    assert Image.calls == 3


# -- service_parallelism ---------------------------------------------------------------------


class Busy:
    """How many steps of each service run at once, at most."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.lock = threading.Lock()

    def step(self, service: str) -> None:
        with self.lock:
            self.now[service] += 1
            self.most[service] = max(self.most[service], self.now[service])
        time.sleep(0.15)  # long enough for every ready step to be started meanwhile
        with self.lock:
            self.now[service] -= 1


_ids = itertools.count(1)


class Slow(Thing):
    name = "test.slow"
    service = "slow"
    busy = Busy()

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        self.busy.step(self.service)
        id = f"slow-{next(_ids)}"
        return id, {"id": id}


class Quick(Slow):
    name = "test.quick"
    service = "quick"


@pytest.fixture
def busy():
    Slow.busy = Busy()
    with registered(Slow, Quick):
        yield Slow.busy


@pytest.mark.parametrize("bound", [1, 3])
def test_service_parallelism_bounds_the_steps_of_one_service_at_once(tmp_path, busy, bound):
    resources = [Resource(f"slow[{i}]", Slow.name, {"name": f"s{i}"}) for i in range(8)]
    resources += [Resource(f"quick[{i}]", Quick.name, {"name": f"q{i}"}) for i in range(5)]
    run = make_run(tmp_path, resources, slow=bound)
    summary = engine.apply(run, engine.plan(run))
    engine.check(summary)
    assert summary.done["created"] == 13
    assert busy.most["slow"] == bound  # never more, and as many as it allows
    assert busy.most["quick"] == 5  # other services are not held back by it
