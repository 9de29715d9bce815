"""The daily workflow a Terraform user expects (issue 17), as a user runs it: `ngp validate`,
`--parallelism N` and `--lock-timeout`, in real processes."""

from __future__ import annotations

import threading
import time

from ngp.state import LocalStore
from tests.homes import PROGRESS, Home, one_error_line


def test_validate_checks_settings_and_graph_and_starts_nothing(tmp_path):
    project = Home(tmp_path)
    try:
        proc = project.ngp("validate", "--env", "sandbox", timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith("envs/sandbox.toml is valid: ")
        assert proc.stdout.rstrip().endswith(" modules")
        assert not (tmp_path / "state" / "sandbox" / "server.json").exists()

        # The endpoint is a closed port: any AWS call would fail, and slowly.
        env = project.env("broken", **{"sandbox = true": 'endpoint_url = "http://127.0.0.1:9"',
                                       "region =": "regoin = \"x\"\nregion ="})
        proc = project.ngp("validate", "--env", env, timeout=30)
        assert proc.returncode == 1
        assert "regoin" in one_error_line(proc.stderr)
    finally:
        project.stop()
    assert not (tmp_path / "state" / "sandbox" / "server.json").exists()


def test_parallelism_is_bounded_and_used(home):
    env = home.env("par")
    for command in (["plan"], ["up", "--yes"], ["down", "--yes"]):
        proc = home.ngp(*command, "--env", env, "--parallelism", "0", timeout=30)
        assert proc.returncode == 1
        assert "--parallelism 0 is out of range" in one_error_line(proc.stderr)
    up = home.ngp("up", "--env", env, "--yes", "--parallelism", "1", "--stats", check=True)
    assert "Apply complete" in up.stdout
    plan = home.ngp("plan", "--env", env, "--parallelism", "64", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    home.ngp("down", "--env", env, "--yes", "--parallelism", "2", check=True)


def test_lock_timeout_waits_for_a_held_lock_then_fails_or_takes_it(home):
    env = home.env("waiter")
    store = LocalStore(home.root / "state", env)
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:  # another run: the lock file is flock'ed by this test's process
        with store.lock("up", print):
            taken.set()
            release.wait(timeout=60)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        assert taken.wait(timeout=10)
        at_once = home.ngp("plan", "--env", env, timeout=30)
        assert at_once.returncode == 1
        assert "locked by `ngp up`" in one_error_line(at_once.stderr)

        t0 = time.monotonic()
        waited = home.ngp("plan", "--env", env, "--lock-timeout", "1s", timeout=30)
        assert waited.returncode == 1
        assert time.monotonic() - t0 >= 1
        lines = [line for line in waited.stderr.strip().splitlines()
                 if not PROGRESS.fullmatch(line)]  # "Connecting to AWS..." when slow
        assert "waiting up to 1s" in lines[0]
        assert lines[-1].startswith("error: ") and "locked by `ngp up`" in lines[-1]
        assert "Traceback" not in waited.stderr

        bad = home.ngp("plan", "--env", env, "--lock-timeout", "5x", timeout=30)
        assert "--lock-timeout '5x' is not a duration" in one_error_line(bad.stderr)

        threading.Timer(1.5, release.set).start()
        t0 = time.monotonic()
        taken_over = home.ngp("plan", "--env", env, "--lock-timeout", "30s", timeout=60)
        assert taken_over.returncode == 0, taken_over.stdout + taken_over.stderr
        assert 1.5 <= time.monotonic() - t0 < 30
        assert "to add" in taken_over.stdout
    finally:
        release.set()
        holder.join(timeout=10)
