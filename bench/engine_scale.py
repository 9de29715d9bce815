"""Benchmark: the engine alone at scale, without AWS: a generated graph of 100, 1,000 and
10,000 resources (security groups, each referencing an earlier one, as a wide tree).

    python bench/engine_scale.py

For each size: time to build and validate the graph, to plan from an empty state (all
creates) and from a state that has everything (no-op, with AWS's answers given), to save that
state (atomic write, fsync, backup) with every resource's line encoded, to load it, and to
save it as a run does after a step (one resource recorded again; the lines of the others are
written as read), and, in a second pass, the peak memory of it all
(tracemalloc). Prints
figures; asserts nothing. Targets: a 10,000-resource plan under 2 s, a save under 200 ms,
peak memory under 300 MB.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ngp.graph import Graph, Ref, Resource  # noqa: E402
from ngp.plan import make_plan  # noqa: E402
from ngp.resources import get_kind  # noqa: E402
from ngp.state import LocalStore, Recorded, State  # noqa: E402

KIND = "ec2.security_group"


def resources(n: int) -> list[Resource]:
    out = []
    for i in range(n):
        spec = {"name": f"ngp-g{i}-bench", "description": "bench", "ingress": [
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "10.0.0.0/8",
             "description": "https"}],
            "vpc_id": Ref(f"bench.g[{(i - 1) // 3}]") if i else "vpc-0123456789abcdef0"}
        out.append(Resource(f"bench.g[{i}]", KIND, spec, module="bench"))
    return out


def measure(n: int, trace: bool = False) -> dict[str, float]:
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    graph = Graph.of(resources(n))
    built = time.perf_counter() - t0

    t0 = time.perf_counter()
    plan = make_plan(graph, State(env="bench"), {})
    planned_empty = time.perf_counter() - t0
    assert len(plan.actionable) == n

    kind = get_kind(KIND)
    state = State(env="bench")
    observed = {}
    for change in plan.changes:
        i = int(change.address.removeprefix("bench.g[").removesuffix("]"))
        id = f"sg-{i:017x}"
        spec = {f.name: f.new for f in change.fields}
        spec["vpc_id"] = f"sg-{(i - 1) // 3:017x}" if i else "vpc-0123456789abcdef0"
        spec = kind.canonical(spec)
        state.resources[change.address] = Recorded(KIND, id, spec, {"id": id},
                                                   [f"bench.g[{(i - 1) // 3}]"] if i else [],
                                                   "bench")
        observed[change.address] = {**spec, "id": id, "status": "available"}
    t0 = time.perf_counter()
    noop = make_plan(graph, state, observed)
    planned_noop = time.perf_counter() - t0
    assert not noop.actionable, noop.actionable[:1]

    with tempfile.TemporaryDirectory() as folder:
        store = LocalStore(Path(folder), "bench")
        store.load()
        store.save(state)  # makes the file: the next saves also keep a backup
        unread = State(env="bench", lineage=state.lineage, serial=state.serial,
                       resources=state.resources)  # no line read or written yet: all encoded
        gc.collect()  # each figure is the operation's own, not a collection others called for
        t0 = time.perf_counter()
        store.save(unread)
        saved_all = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = store.load()  # as a run starts
        load = time.perf_counter() - t0
        address = next(iter(loaded.resources))  # as a step ends: one resource recorded again
        loaded.resources[address] = replace(loaded.resources[address], outputs={"id": "sg-1"})
        gc.collect()
        t0 = time.perf_counter()
        store.save(loaded)
        saved_one = time.perf_counter() - t0
        size = (Path(folder) / "bench.json").stat().st_size
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    tracemalloc.stop()
    return {"build": built, "plan_empty": planned_empty, "plan_noop": planned_noop,
            "save_all": saved_all, "load": load, "save_one": saved_one, "state_mb": size / 1e6,
            "peak_mb": peak / 1e6}


def main() -> None:
    print(f"{'resources':>9}  {'graph':>7}  {'plan (all new)':>14}  {'plan (no-op)':>12}  "
          f"{'save (all)':>10}  {'load':>6}  {'save (one)':>10}  {'state':>7}  {'peak memory':>11}")
    for n in (100, 1_000, 10_000):
        m = measure(n)  # timed alone: tracing memory slows Python down several times
        m["peak_mb"] = measure(n, trace=True)["peak_mb"]
        print(f"{n:>9,}  {m['build']:6.3f}s  {m['plan_empty']:13.3f}s  {m['plan_noop']:11.3f}s"
              f"  {m['save_all'] * 1000:8.0f}ms  {m['load'] * 1000:4.0f}ms"
              f"  {m['save_one'] * 1000:8.0f}ms"
              f"  {m['state_mb']:5.1f}MB  {m['peak_mb']:9.0f}MB")


if __name__ == "__main__":
    main()
