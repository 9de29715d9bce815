"""Refresh, plan, apply and destroy: walks the graph, calls the kinds, saves the state.

Every mutating call is preceded by a saved intent (pending) and followed by a save, so a
run killed at any instant leaves a state the next run understands. The rooms, in the order
one `ngp up` passes through them (README: Architecture):

- opening: settings and graph, AWS access, the store and its lock (run.Run holds them)
- zones: the network's zones, recorded ones first
- settling: the intents an interrupted run left
- refreshing: one batched read per kind, then the pure planner (ngp.plan); owned: what
  the env's tags say it owns (adopted, or deleted by `ngp down`)
- schedule: the plan as a graph of steps, longest chains first
- applying: the loop that runs the steps (steps: one step), and Ctrl-C
- outputs: the env's outputs, status and URL probes

and importing: `ngp import`, which adopts an object made by hand under the run's lock.
"""

from ngp.engine.applying import apply, check
from ngp.engine.opening import (
    bootstrap_backend,
    connect,
    marathon_for,
    open_run,
    sandbox_info,
    store_for,
)
from ngp.engine.outputs import PROBE_TIMEOUT, probe_urls, reveal_outputs, status
from ngp.engine.refreshing import plan, rebuild_state, refresh
from ngp.engine.run import Desired, Reporter, Run, Store, build_desired, phase
from ngp.engine.schedule import Op, Summary, heights, longest_chain, schedule
from ngp.engine.settling import settle_pending
from ngp.engine.zones import choose_zones, instance_types, recorded_zones

__all__ = [
    "PROBE_TIMEOUT", "Desired", "Op", "Reporter", "Run", "Store", "Summary", "apply",
    "bootstrap_backend", "build_desired", "check", "choose_zones", "connect", "heights",
    "instance_types", "longest_chain", "marathon_for", "open_run", "phase", "plan", "probe_urls",
    "rebuild_state",
    "recorded_zones", "refresh", "reveal_outputs", "sandbox_info", "schedule",
    "settle_pending", "status", "store_for",
]
