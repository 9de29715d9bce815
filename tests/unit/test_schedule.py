"""The scheduler's priorities and the state's group commit."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

from ngp import engine
from ngp.resources import get_kind
from ngp.state import State


def test_heights_are_the_longest_chain_of_weights_to_the_end():
    deps = {"vpc": set(), "nat": {"vpc"}, "route": {"nat"}, "domain": {"vpc"}, "tag": set()}
    weight = {"vpc": 10, "nat": 110, "route": 1, "domain": 1200, "tag": 1}
    heights = engine.heights(deps, weight.__getitem__)
    assert heights == {"vpc": 1210, "nat": 111, "route": 1, "domain": 1200, "tag": 1}
    assert engine.longest_chain(deps, weight.__getitem__) == 1210


def test_the_slow_kinds_weigh_what_aws_takes():
    assert get_kind("opensearch.domain").typical_seconds > get_kind(
        "ec2.nat_gateway").typical_seconds > get_kind("ec2.subnet").typical_seconds
    assert get_kind("marathon.ready").typical_seconds >= 600


class SlowStore:
    """A store whose writes take a while and remember what each one held."""

    def __init__(self):
        self.writes: list[set[str]] = []

    def write(self, data, serial):
        held = set(json.loads(data)["outputs"])
        time.sleep(0.05)
        self.writes.append(held)


def test_no_change_returns_before_a_write_holds_it():
    store = SlowStore()
    run = engine.Run(settings=SimpleNamespace(env="t"), desired=None, aws=None, store=store,
                     state=State(env="t"), reporter=None)
    returned: dict[str, int] = {}

    def change(name: str) -> None:
        with run.saving() as state:
            state.outputs[name] = 1
        returned[name] = len(store.writes)  # writes done when this change came back

    threads = [threading.Thread(target=change, args=(f"c{i}",)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    # How many changes share a write depends on timing; that none returns before a write
    # holding it does not.
    assert len(store.writes) <= 10 and len(returned) == 10
    for name, done in returned.items():
        assert any(name in write for write in store.writes[:done]), name


def test_changes_that_come_together_share_writes():
    """Group commit: 20 steps finishing at once while a write is under way cost a few
    writes, not 20 (one per change would be the same state written 20 times)."""
    store = SlowStore()
    run = engine.Run(settings=SimpleNamespace(env="t"), desired=None, aws=None, store=store,
                     state=State(env="t"), reporter=None)
    together = threading.Barrier(20, timeout=10)

    def change(name: str) -> None:
        together.wait()
        with run.saving() as state:
            state.outputs[name] = 1

    threads = [threading.Thread(target=change, args=(f"c{i}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    # The first write (50 ms) takes the first change; the others come while it is made and
    # the next write holds them all: 2, or a few more on a busy machine.
    assert len(store.writes) <= 5, f"{len(store.writes)} writes for 20 changes"
    assert store.writes[-1] == {f"c{i}" for i in range(20)}


def test_steps_change_the_state_while_a_write_is_made():
    writing, release, changed = threading.Event(), threading.Event(), threading.Event()
    writes = []

    class HeldStore:
        def write(self, data, serial):
            writing.set()
            release.wait(5)
            writes.append((serial, json.loads(data)["outputs"]))

    run = engine.Run(settings=SimpleNamespace(env="t"), desired=None, aws=None,
                     store=HeldStore(), state=State(env="t"), reporter=None)

    def change(name: str) -> None:
        with run.saving() as state:
            state.outputs[name] = 1
        changed.set()

    first = threading.Thread(target=change, args=("a",))
    first.start()
    assert writing.wait(5)

    def second() -> None:
        with run.saving() as state:
            state.outputs["b"] = 1
            entered.set()

    entered = threading.Event()
    later = threading.Thread(target=second)
    later.start()
    assert entered.wait(2), "a change waited for another's write to end"
    assert not changed.is_set()  # and the first is not back before its write is done
    release.set()
    first.join(5)
    later.join(5)
    assert writes == [(1, {"a": 1}), (2, {"a": 1, "b": 1})]
