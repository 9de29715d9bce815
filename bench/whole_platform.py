"""Benchmark: the whole platform (every module) in the sandbox under the latency model, against
the dependency graph's limit.

    python bench/whole_platform.py                 # model scale 200 (a NAT gateway 0.55 s)
    python bench/whole_platform.py --scale 100

The sandbox delays each AWS operation by its typical AWS time / scale (ngp/sandbox/model.py,
from shared/reference/aws-latency.md) and makes the local Marathon as slow as DC/OS, on the
server side. For each schedule (longest chain first with a pool of 10; one step at a time;
a pool of 10 in the order steps become ready):

- `up` from empty: the apply's wall time; the critical-path bound, the longest chain through
  the graph of the modelled times of each step's AWS calls (and Marathon's); their ratio;
- a no-op `plan` and `status`: wall time and API calls by operation, for a small and a large
  platform (more AZs, agents, masters, repositories), to show reads do not grow with counts;
- `down`: wall time against the reverse graph's bound.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
    os.environ.pop(var, None)

from network import Quiet  # noqa: E402  (bench/network.py: a reporter that prints failures only)

from ngp import engine  # noqa: E402
from ngp.config import Project  # noqa: E402
from ngp.sandbox import control, model  # noqa: E402

SCHEDULES = {
    "longest chain first, pool of 10": {"parallelism": 10, "scheduling": "longest_chain"},
    "one step at a time": {"parallelism": 1, "scheduling": "longest_chain"},
    "pool of 10, ready order": {"parallelism": 10, "scheduling": "ready_order"},
}
LARGE = {"availability_zones = 3": "availability_zones = 4", "masters = 3": "masters = 5",
         "private_agents = 2": "private_agents = 20", "public_agents = 1": "public_agents = 4",
         'repositories = ["app", "web"]': 'repositories = ["app", "web", "a", "b", "c", "d"]'}


def modelled(kind: str, phase: str, calls: list[str], scale: float) -> float:
    """A step's modelled seconds: its AWS calls' typical times, plus Marathon's."""
    aws = sum(model.seconds(call.split(".", 1)[1]) for call in calls)
    if kind == "marathon.app":
        aws += model.DEPLOY_SECONDS if phase == "apply" else 0
    if kind == "marathon.ready" and phase == "apply":
        aws += model.DCOS_READY_SECONDS
    return aws / scale


def write_env(project: Project, name: str, settings: dict[str, Any],
              replace: dict[str, str]) -> str:
    text = (REPO / "envs" / "sandbox.toml").read_text()
    text = text.replace('name_suffix = "sandbox"', f'name_suffix = "{name}"').replace(
        'domain = "sandbox.ngp.test"', f'domain = "{name}.ngp.test"')
    for old, new in replace.items():
        text = text.replace(old, new)
    extra = "".join(f'{k} = {v!r}\n'.replace("'", '"') for k, v in settings.items())
    text = re.sub(r"(?m)^(modules = )", extra + r"\1", text, count=1)
    (project.envs_dir / f"{name}.toml").write_text(text)
    return name


def run(project: Project, env: str, command: str, scale: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    with engine.open_run(project, env, command, Quiet()) as current:
        if command == "status":  # as `ngp status`: no plan
            engine.status(current)
            return {"changes": 0, "wall": time.perf_counter() - t0,
                    "calls": Counter(current.aws.calls)}
        plan = engine.plan(current, destroy=command == "down")
        figures: dict[str, Any] = {"changes": len(plan.actionable)}
        if command in ("up", "down") and plan.actionable:
            summary = engine.apply(current, plan)
            engine.check(summary)
            kinds = {change.address: change.kind for change in plan.actionable}
            weight = {key: modelled(kinds[key[1]], key[0], calls, scale)
                      for key, (_, calls) in summary.steps.items()}
            figures.update(apply=summary.seconds, observed=summary.critical_path(),
                           bound=engine.longest_chain(summary.deps,
                                                      lambda k: weight.get(k, 0.0)))
        figures.update(wall=time.perf_counter() - t0, calls=Counter(current.aws.calls))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=200.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ngp-bench-"))
    shutil.copytree(REPO / "envs", root / "envs")
    os.environ["NGP_HOME"] = str(root)
    project = Project(root)
    control.start(project, model_scale=args.scale)
    try:
        print(f"Whole platform, every module, model scale 1/{args.scale:g} "
              f"(a NAT gateway {110 / args.scale:.2f}s, a search domain "
              f"{1200 / args.scale:.1f}s, DC/OS {600 / args.scale:.1f}s)\n")
        for i, (label, settings) in enumerate(SCHEDULES.items()):
            env = write_env(project, f"b{i}", settings, {})
            up = run(project, env, "up", args.scale)
            print(f"{label}:")
            print(f"  up    {up['changes']} steps: apply {up['apply']:.2f}s, bound "
                  f"{up['bound']:.2f}s -> {up['apply'] / up['bound']:.2f}x "
                  f"(observed steps' critical path {up['observed']:.2f}s; command "
                  f"{up['wall']:.2f}s, {sum(up['calls'].values())} calls)")
            if i == 0:
                for size, replace in (("small", {}), ("large", LARGE)):
                    sized = env if size == "small" else write_env(
                        project, "big", settings, replace)
                    if size == "large":
                        run(project, sized, "up", args.scale)
                    for command in ("plan", "status"):
                        result = run(project, sized, command, args.scale)
                        reads = {op: n for op, n in result["calls"].items()
                                 if op != "sts.GetCallerIdentity"}
                        print(f"  {command:6} ({size}, {result['changes']} changes): "
                              f"{result['wall']:.2f}s, {sum(reads.values())} read calls "
                              f"over {len(reads)} operations, most per operation "
                              f"{max(reads.values())}")
                    if size == "large":
                        run(project, sized, "down", args.scale)
                print("  no-op plan calls (small):", ", ".join(
                    f"{op} {n}" for op, n in sorted(run(project, env, "plan", args.scale)[
                        "calls"].items())))
            down = run(project, env, "down", args.scale)
            print(f"  down  {down['changes']} steps: apply {down['apply']:.2f}s, bound "
                  f"{down['bound']:.2f}s -> {down['apply'] / down['bound']:.2f}x "
                  f"(command {down['wall']:.2f}s)\n")
    finally:
        control.stop(project)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
