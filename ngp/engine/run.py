"""The run: one command on one env, its desired graph, and the state it saves (group commit)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from ngp.aws import Aws
from ngp.config import Settings
from ngp.errors import NgpError
from ngp.graph import Graph, Resource
from ngp.marathon.endpoints import Marathons, recorded_endpoint
from ngp.modules import load
from ngp.permissions import with_boundary
from ngp.resources import Context
from ngp.state import LocalStore, State
from ngp.state_s3 import S3Store

if TYPE_CHECKING:
    from ngp.engine.schedule import Op


class Reporter(Protocol):
    """What the engine tells the screen; render.py implements it."""

    def started(self, op: Op) -> None: ...
    def finished(self, op: Op, seconds: float) -> None: ...
    def failed(self, op: Op, error: NgpError) -> None: ...
    def still_running(self, ops: list[tuple[Op, float]]) -> None: ...
    def progress(self, message: str) -> None: ...  # a phase under way (see `phase`)
    def note(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...


SLOW = 0.5  # seconds: a phase still running after this is said; a quicker one stays silent


@contextmanager
def phase(reporter: Reporter, message: str) -> Iterator[None]:
    """Say message (a progress line, "Refreshing 88 resources") if the block is still running
    after SLOW seconds: a run never sits silent for long, and a fast one prints nothing."""
    timer = threading.Timer(SLOW, reporter.progress, (message,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@dataclass(frozen=True)
class Desired:
    """What the env's modules want: the graph and the env's outputs (values or Refs)."""

    graph: Graph
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)  # said with every plan


def build_desired(settings: Settings) -> Desired:
    resources: list[Resource] = []
    outputs: dict[str, Any] = {}
    warnings: list[str] = []
    for name, mod in load(settings.modules).items():
        built = mod.build(settings)
        resources.extend(replace(res, module=name) for res in built.resources)
        outputs.update(built.outputs)
        warnings.extend(built.warnings)
    # Every role carries the env's permissions boundary, made here with them.
    resources = with_boundary(settings, resources)
    return Desired(Graph.of(resources), outputs, warnings)


@dataclass
class Run:
    """One command on one env: its settings, AWS access, state and where it reports."""

    settings: Settings
    desired: Desired
    aws: Aws
    store: LocalStore | S3Store
    state: State
    reporter: Reporter
    marathons: Marathons | None = None
    ctx: Context = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _writing: threading.Lock = field(default_factory=threading.Lock, init=False)
    _changes: int = field(default=0, init=False)  # changes made to the state in memory
    _saved: int = field(default=0, init=False)  # of which the store holds this many
    _stopped: bool = field(default=False, init=False)  # quitting: nothing is written any more

    def __post_init__(self) -> None:
        self.ctx = Context(aws=self.aws, env=self.settings.env, lineage=self.state.lineage,
                           marathons=self.marathons,
                           recorded_marathon=recorded_endpoint(self.state))

    @contextmanager
    def saving(self) -> Iterator[State]:
        """Change the state under the run's lock; return once the store holds the change.

        Group commit: steps that change the state while another writes it are saved
        together by the next write, so ten steps finishing at once cost about two writes,
        not ten; none goes on before its own change is durable. A write encodes the state
        under the lock (only the lines of what changed) and writes it outside, so steps go
        on changing the state while it is written."""
        with self._lock:
            yield self.state
            self._changes += 1
            mine = self._changes
        with self._writing:
            if self._saved >= mine:
                return  # a write made while we waited holds our change
            if self._stopped:
                # Quitting: this change is never saved, and the step must not go on as if it
                # were (its next call could make what no intent records); it waits for the end.
                threading.Event().wait()
            with self._lock:
                covered = self._changes
                self.state.serial += 1
                serial, data = self.state.serial, self.state.to_json()
            self.store.write(data, serial)
            self._saved = covered

    def stop_saving(self, within: float) -> bool:
        """Quitting at once: no state write starts after this; a step that would save waits
        for the process to end. True once no write is under way (False if the one under way
        did not end within `within` seconds: it may still land, so keep the env's lock)."""
        self._stopped = True
        return self._writing.acquire(timeout=within)  # held from now on


Store = LocalStore | S3Store
