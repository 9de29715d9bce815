"""Benchmark: how long ngp takes to start, as whole processes (the console script's own lines),
against issue 17's bounds.

    python bench/startup.py            # 9 runs of each, median
    python bench/startup.py --runs 21

Measured: `ngp --help`; one Tab of shell completion (`ngp plan --env <Tab>`, bash's protocol:
_NGP_COMPLETE=complete_bash); `ngp validate` of the network module's env; and a no-op
`ngp plan` of that env on a fresh sandbox answering every AWS request 50 ms late (brought up
once first). Each figure is the median wall time, with the median CPU time (user + system)
beside it: on a shared machine the wall time waits for the CPU too.

Python writes no bytecode here when PYTHONDONTWRITEBYTECODE is set, and would then compile
ngp's files at every start; an installed ngp has its .pyc files. The runs use a bytecode cache
of their own (PYTHONPYCACHEPREFIX, a temporary folder, warmed by a first run) unless
--no-bytecode. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# The console script's own lines (pyproject: ngp.__main__:main), so the program is named
# `ngp` (completion's variable is _NGP_COMPLETE) and no shell wrapper (pyenv's) is timed.
NGP = "import sys; from ngp.__main__ import main; sys.argv[0] = 'ngp'; sys.exit(main())"
BOUNDS = {"ngp --help": 0.2, "completion (ngp plan --env <Tab>)": 0.2,
          "ngp validate --env bench": None, "no-op ngp plan, +50 ms per request": 0.8}


def cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(args: list[str], env: dict[str, str], runs: int,
          expect: str | None = None) -> tuple[float, float]:
    """Median wall and CPU seconds of `ngp ARGS` over runs, after one warm-up run."""
    walls, cpus = [], []
    for index in range(runs + 1):
        c0, t0 = cpu(), time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", NGP, *args], env=env, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
        wall, used = time.perf_counter() - t0, cpu() - c0
        if proc.returncode != 0 or (expect and expect not in proc.stdout):
            sys.exit(f"`ngp {' '.join(args)}` failed ({proc.returncode}):\n"
                     f"{proc.stdout}{proc.stderr}")
        if index:  # the first run warms the bytecode cache and the file system's
            walls.append(wall)
            cpus.append(used)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-bytecode", action="store_true",
                        help="Compile ngp's files at every start, as with "
                        "PYTHONDONTWRITEBYTECODE=1 and no .pyc files.")
    args = parser.parse_args()

    from ngp.config import Project
    from ngp.sandbox import control

    home = Path(tempfile.mkdtemp(prefix="ngp-startup-"))
    shutil.copytree(REPO / "envs", home / "envs")
    # The network module alone, as bench/network.py (and issue 17's figure) has it.
    text = (home / "envs" / "sandbox.toml").read_text()
    text = re.sub(r"(?ms)^modules = \[.*?\]", 'modules = ["network"]', text)
    text = re.sub(r"(?m)^domain = .*$", "", text).split("[openvpn]")[0]
    (home / "envs" / "bench.toml").write_text(text)
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "NGP_ENV", "COLUMNS")}
    env.update(NGP_HOME=str(home), PYTHONPATH=str(REPO))
    if args.no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    complete = {**env, "_NGP_COMPLETE": "complete_bash", "COMP_WORDS": "ngp plan --env ",
                "COMP_CWORD": "3"}

    figures: dict[str, tuple[float, float]] = {}
    project = Project(home)
    try:
        figures["ngp --help"] = timed(["--help"], env, args.runs, "Commands")
        figures["completion (ngp plan --env <Tab>)"] = timed([], complete, args.runs, "bench")
        figures["ngp validate --env bench"] = timed(["validate", "--env", "bench"], env,
                                                    args.runs, "is valid")
        control.start(project, 50.0)
        subprocess.run([sys.executable, "-c", NGP, "up", "--env", "bench", "--yes"], env=env,
                       check=True, capture_output=True, timeout=300)  # the no-op plans follow
        figures["no-op ngp plan, +50 ms per request"] = timed(
            ["plan", "--env", "bench"], env, args.runs, "No changes")
    finally:
        control.stop(project)
        shutil.rmtree(home, ignore_errors=True)

    print(f"\n== ngp start-up, whole processes, median of {args.runs}"
          f"{', no bytecode' if args.no_bytecode else ''} ==")
    print(f"{'':38} {'wall s':>7} {'cpu s':>7} {'bound':>7}")
    for label, (wall, used) in figures.items():
        bound = BOUNDS[label]
        verdict = "" if bound is None else ("  within" if wall < bound else "  OVER")
        shown = "-" if bound is None else f"{bound:.2f}"
        print(f"{label:38} {wall:7.3f} {used:7.3f} {shown:>7}{verdict}")
    print(f"(python itself: {timed_python():.3f} s to start and exit)")


def timed_python() -> float:
    walls = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=30)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


if __name__ == "__main__":
    main()
