"""The workflow options a Terraform user reaches for: --version, --parallelism and
--lock-timeout's waiting (the commands themselves are run in tests/e2e/test_workflow.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ngp
from ngp.cli import app
from ngp.cli_common import parse_duration
from ngp.config import Project
from ngp.engine.opening import with_parallelism
from ngp.errors import LockError, NgpError
from ngp.state import LocalStore, lock_waiting

REPO = Path(__file__).resolve().parents[2]


def test_version_answers_before_the_cli_loads():
    shown = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv = ['ngp', '--version']\n"
         "from ngp.__main__ import main\nmain()\n"
         "print(sorted(m for m in sys.modules\n"
         "             if m.startswith(('ngp.', 'boto')) and m != 'ngp.__main__'))"],
        capture_output=True, text=True, timeout=30, env={**os.environ})
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [f"ngp {ngp.__version__}", "[]"]


def test_version_in_the_app_too():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"ngp {ngp.__version__}\n"


def test_parallelism_overrides_the_env_and_is_bounded():
    settings = Project(REPO).load("sandbox")
    assert with_parallelism(settings, None) is settings
    one = with_parallelism(settings, 1)
    assert one.core.parallelism == 1 and settings.core.parallelism != 1
    assert one.core.region == settings.core.region
    for bad in (0, -3, 65):
        with pytest.raises(NgpError, match="--parallelism"):
            with_parallelism(settings, bad)


@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0), ("30s", 30), ("5m", 300), ("1h", 3600), ("500ms", 0.5), ("1.5s", 1.5),
    ("12", 12)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "-1s", "m", "1 m 2"])
def test_bad_durations_are_one_line(text):
    with pytest.raises(NgpError, match="--lock-timeout .* is not a duration"):
        parse_duration(text)


@pytest.fixture
def held(tmp_path):
    """The env's lock held by another holder until release() (flock: two opens conflict
    even in one process)."""
    store = LocalStore(tmp_path, "dev")
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.lock("up", print):
            taken.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert taken.wait(timeout=10)
    yield store, release
    release.set()
    holder.join(timeout=10)


def test_a_held_lock_fails_at_once_without_a_timeout(held):
    store, _ = held
    t0 = time.monotonic()
    with pytest.raises(LockError, match="locked by `ngp up`"), \
            lock_waiting(lambda: store.lock("plan", print), 0):
        pass
    assert time.monotonic() - t0 < 0.2


def test_a_held_lock_is_waited_for_up_to_the_timeout(held):
    store, _ = held
    said: list[str] = []
    t0 = time.monotonic()
    with pytest.raises(LockError, match="locked by `ngp up`"), \
            lock_waiting(lambda: store.lock("plan", print), 0.6, said.append, poll=0.1):
        pass
    assert 0.6 <= time.monotonic() - t0 < 2
    assert len(said) == 1 and "waiting up to 0.6s" in said[0]


def test_a_lock_released_within_the_timeout_is_taken(held):
    store, release = held
    threading.Timer(0.5, release.set).start()
    t0 = time.monotonic()
    with lock_waiting(lambda: store.lock("plan", print), 10, poll=0.1):
        assert store.holder()[0]["command"] == "plan"
    assert 0.5 <= time.monotonic() - t0 < 5
