"""The apply loop: every ready step at once, bounded, longest chains first; Ctrl-C."""

from __future__ import annotations

import heapq
import itertools
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from ngp.engine.outputs import record_outputs
from ngp.engine.run import Run
from ngp.engine.schedule import Op, Summary, priorities, schedule
from ngp.engine.steps import run_step
from ngp.errors import ApplyError, Interrupted, NgpError, Quit
from ngp.graph import dependents
from ngp.plan import Action, Plan
from ngp.resources import get_kind

PROGRESS_EVERY = 10.0  # seconds between "still creating" lines
WAKE_EVERY = 0.25  # seconds: how soon the loop notices a Ctrl-C
QUIT_WAIT = 0.5  # seconds a second Ctrl-C waits for a state write under way to land


def apply(run: Run, plan: Plan) -> Summary:
    """Carry out the plan: every ready step at once, bounded overall and per AWS service,
    longest chains first; a failure stops only what depends on it."""
    ops, deps = schedule(run, plan)
    priority = priorities(run, ops, deps)
    order = itertools.count()  # ties (and ready_order) go first come, first served
    after = dependents(deps)
    waiting = {key: set(d) for key, d in deps.items()}
    ready = [(-priority[k], next(order), k) for k, d in waiting.items() if not d]
    heapq.heapify(ready)
    limit = run.settings.core.parallelism
    per_service = run.settings.core.service_parallelism
    busy: Counter[str] = Counter()
    running: dict[Future, tuple[Op, float]] = {}
    summary = Summary(deps=deps)
    started = time.monotonic()
    completed: set[tuple[str, str]] = set()
    stop = threading.Event()
    bugs: list[BaseException] = []

    def on_interrupt(signum: int, frame: Any) -> None:
        # The first Ctrl-C starts nothing new and lets running steps finish and be saved (the
        # lock and the clients are kept until they end); the loop says so (a handler that
        # prints can break a line being printed). The second quits at once: no state write
        # after this decision, then the lock goes and the process ends (cli.main) without
        # waiting for the running AWS calls; their intents are saved, the next run settles them.
        if not stop.is_set():
            stop.set()
            return
        saves_stopped = run.stop_saving(within=QUIT_WAIT)
        raise Quit(_quitting(_in_flight(running)), saves_stopped=saves_stopped)

    def launch(pool: ThreadPoolExecutor) -> None:
        held = []
        while ready and len(running) < limit and not stop.is_set() and not bugs:
            item = heapq.heappop(ready)
            op = ops[item[-1]]
            if busy[op.service] >= per_service.get(op.service, 10):
                held.append(item)
                continue
            busy[op.service] += 1
            run.reporter.started(op)
            running[pool.submit(run_step, run, op)] = (op, time.monotonic())
        for item in held:
            heapq.heappush(ready, item)

    def settle(future: Future) -> None:
        op, t0 = running.pop(future)
        busy[op.service] -= 1
        error = future.exception()
        if error is None:
            seconds = time.monotonic() - t0
            summary.steps[op.key] = (seconds, future.result())
            run.reporter.finished(op, seconds)
            if label := _done_label(op):
                summary.done[label] += 1
            completed.add(op.key)
            for nxt in after.get(op.key, set()):
                waiting[nxt].discard(op.key)
                if not waiting[nxt]:
                    heapq.heappush(ready, (-priority[nxt], next(order), nxt))
        elif isinstance(error, NgpError):
            summary.failures[op.address] = error
            run.reporter.failed(op, error)
        else:
            bugs.append(error)

    pool = ThreadPoolExecutor(max_workers=limit)
    try:
        with _handling_sigint(on_interrupt):
            last_progress = started
            announced = False
            while True:
                launch(pool)
                if stop.is_set() and not announced:  # after launch: no step starts after this
                    announced = True
                    run.reporter.warn(f"interrupted: waiting for {_steps(_in_flight(running))}"
                                      " to finish and be saved (Ctrl-C again to quit at once)")
                if not running:
                    break
                done, _ = wait(running, timeout=WAKE_EVERY, return_when=FIRST_COMPLETED)
                if time.monotonic() - last_progress >= PROGRESS_EVERY:
                    last_progress = time.monotonic()
                    run.reporter.still_running(
                        [(op, time.monotonic() - t0) for op, t0 in running.values()])
                for future in done:
                    settle(future)
    except Quit:
        pool.shutdown(wait=False, cancel_futures=True)  # quit now: do not wait for AWS
        raise
    pool.shutdown()
    if bugs:
        raise bugs[0]
    summary.skipped = sorted({op.address for key, op in ops.items()
                              if key not in completed and op.address not in summary.failures})
    summary.interrupted = stop.is_set() and bool(summary.skipped)  # else it all got done
    if not plan.destroy:
        record_outputs(run, plan.outputs)
    elif not run.state.resources and run.state.outputs:
        with run.saving() as state:
            state.outputs = {}
    summary.seconds = time.monotonic() - started
    return summary


@contextmanager
def _handling_sigint(handler: Any) -> Iterator[None]:
    """Route Ctrl-C to handler for the block (only the main thread can take signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _in_flight(running: dict[Future, Any]) -> int:
    """Steps still at work (a finished one not yet counted by the loop is saved already)."""
    return sum(not future.done() for future in list(running))


def _steps(count: int) -> str:
    return f"{count} step{'' if count == 1 else 's'}"


def _quitting(left: int) -> str:
    if not left:
        return "quitting now: no step was running"
    were, intents = ("was", "its intent is") if left == 1 else ("were", "their intents are")
    return f"quitting now: {_steps(left)} {were} still running; {intents} saved, and the " \
        "next run settles them"


def _done_label(op: Op) -> str | None:
    """How the summary counts a finished step; a replacement counts once, when created."""
    action = op.change.action
    if action == Action.REPLACE:
        return "replaced" if op.phase == "apply" else None
    if action == Action.READ and not get_kind(op.change.kind).read_only:
        return "recorded"  # --refresh-only: drift accepted into the state
    return {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted",
            Action.READ: "read", Action.FORGET: "forgotten", Action.ADOPT: "adopted"}[action]


def check(summary: Summary) -> None:
    """Raise what a finished apply left failed; the CLI shows it as one line."""
    if summary.failures:
        raise ApplyError(summary.failures, summary.skipped)
    if summary.interrupted:
        raise Interrupted("interrupted", hint="What finished is saved; run the command again "
                          "to continue.")
