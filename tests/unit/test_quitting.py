"""Quitting at once (a second Ctrl-C): no state write after the decision, and the env's lock
released only when no write can land any more."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from ngp import engine
from ngp.errors import Quit
from ngp.state import LocalStore, State


class Recording:
    def __init__(self, hold: threading.Event | None = None) -> None:
        self.writes: list[int] = []
        self.writing = threading.Event()
        self.hold = hold

    def write(self, data: bytes, serial: int) -> None:
        self.writing.set()
        if self.hold is not None:
            self.hold.wait(5)
        self.writes.append(serial)


def run_on(store) -> engine.Run:
    return engine.Run(settings=SimpleNamespace(env="t"), desired=None, aws=None, store=store,
                      state=State(env="t"), reporter=None)


def save_in_thread(run: engine.Run, name: str) -> tuple[threading.Thread, threading.Event]:
    back = threading.Event()

    def change() -> None:
        with run.saving() as state:
            state.outputs[name] = 1
        back.set()

    thread = threading.Thread(target=change, daemon=True)  # it waits for the process to end
    thread.start()
    return thread, back


def test_no_save_is_written_after_saving_stops_and_the_step_does_not_go_on():
    store = Recording()
    run = run_on(store)
    with run.saving() as state:
        state.outputs["before"] = 1
    assert store.writes == [1]
    assert run.stop_saving(within=1.0)
    _, back = save_in_thread(run, "after")
    assert not back.wait(0.5), "a step went on as if its change were saved"
    assert store.writes == [1]


def test_a_write_under_way_lands_before_stop_saving_returns_and_none_after():
    hold = threading.Event()
    store = Recording(hold)
    run = run_on(store)
    _, first = save_in_thread(run, "a")
    assert store.writing.wait(5)
    _, queued = save_in_thread(run, "b")  # waits for the write under way
    assert not run.stop_saving(within=0.2), "a write still under way was not said"
    hold.set()
    assert first.wait(5)
    assert not queued.wait(0.5)
    assert store.writes == [1]


def _lock_fds(path: Path) -> list[int]:
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                found.append(int(name))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("saves_stopped", [True, False])
def test_quitting_releases_the_local_lock_only_when_no_write_can_land(tmp_path, saves_stopped):
    store = LocalStore(tmp_path, "t")
    with pytest.raises(Quit), store.lock("up", print):
        raise Quit("quitting now", saves_stopped=saves_stopped)
    note, alive = store.holder()
    if saves_stopped:
        assert not alive and not note
    else:  # held until the process ends (a moment later), with its note
        assert alive and note["pid"] == os.getpid()
        for fd in _lock_fds(store.lock_path):
            os.close(fd)
        assert not store.holder()[1]


@pytest.mark.parametrize("saves_stopped", [True, False])
def test_quitting_releases_the_s3_lock_at_once_or_leaves_it_to_its_lease(aws, tmp_path,
                                                                         saves_stopped):
    from ngp.state_s3 import S3Lock, S3Store

    s3 = aws.client("s3", "us-east-1")
    s3.create_bucket(Bucket="ngp-state-t")
    lock = S3Lock(s3, "ngp-state-t", "t.json.lock")
    store = S3Store(s3, "ngp-state-t", "t.json", "t", lock=lock, lease_seconds=60,
                    rescue_dir=tmp_path)
    quit = Quit("quitting now", saves_stopped=saves_stopped)
    with pytest.raises(Quit), store.lock("up", print):
        raise quit
    held, _ = lock.read()
    if saves_stopped:
        assert held is None and quit.line() == "quitting now."
    else:
        assert held["pid"] == os.getpid()
        assert "ends with its lease within 60 s" in quit.line()
