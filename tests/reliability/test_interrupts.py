"""Ctrl-C through a real process and a real signal: the first press starts nothing new and
lets the running steps finish and be saved, the lock held until they end (exit 130); the
second quits at once, saying so, and the next run settles what was in flight; a press at the
confirmation prompt is one line and exit 130 too."""

from __future__ import annotations

import os
import pty
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.e2e.test_cli import EXPECTED, RESOURCES, counts
from tests.homes import Home, all_ids, owned_ids, read_until, state_ids

NAT = "network.nat[a]"
STARTED = re.compile(r"^(\S+): (creating|updating|deleting|reading|forgetting)\.\.\.$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
INTERRUPTED = "error: interrupted. What finished is saved; run the command again to continue."


@pytest.fixture(scope="module")
def model_home(tmp_path_factory):
    """A sandbox where each AWS call takes its AWS time / 20: the NAT gateway's create is
    one call of 5.5 s, so a step is surely in flight when the signal comes."""
    project = Home(tmp_path_factory.mktemp("ngp-ctrl-c"))
    project.ngp("sandbox", "start", "--model", "20", check=True, timeout=120)
    yield project
    project.stop()


class Watched:
    """A running `ngp` whose stderr lines are read as they come (and stdout kept)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.err: list[str] = []
        self.out: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._readers = [threading.Thread(target=self._read, args=(proc.stderr, self.err, True),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(proc.stdout, self.out, False),
                                          daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, kept: list[str], watched: bool) -> None:
        for line in stream:
            kept.append(line.rstrip("\n"))
            if watched:
                self._lines.put(kept[-1])
        if watched:
            self._lines.put(None)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{text!r} not seen in {timeout}s: {self.err[-20:]}"
                                     ) from None
            assert line is not None, f"{text!r} never showed: {self.err[-20:]}"
            if text in line:
                return

    def end(self, timeout: float) -> int:
        """Wait for the exit (and the last of its output); kill it if it does not come."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def started(lines: list[str]) -> set[str]:
    return {m.group(1) for line in lines if (m := STARTED.match(line))}


def lock_of(home: Home, env: str):
    from ngp.state import LocalStore

    return LocalStore(home.root / "state", env).holder()


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_first_ctrl_c_finishes_and_saves_the_running_steps_holding_the_lock(model_home):
    home = model_home
    env = home.env("ctrl-c-once")
    run = Watched(home.popen("up", "--env", env, "--yes"))
    try:
        run.wait_for(f"{NAT}: creating...", timeout=90)
        run.proc.send_signal(signal.SIGINT)
        run.wait_for("warning: interrupted: waiting for", timeout=10)
        # The NAT gateway's call goes on for seconds: the lock is still this run's.
        note, alive = lock_of(home, env)
        assert alive and note["pid"] == run.proc.pid, note
        assert not any(line.startswith(f"{NAT}: created") for line in run.err)
        code = run.end(timeout=60)
    finally:
        run.kill()
    err = run.err
    assert code == 130, "\n".join(err)
    assert err[-1] == INTERRUPTED, err[-3:]
    assert "Traceback" not in "\n".join(err)
    cut = next(i for i, line in enumerate(err) if "warning: interrupted" in line)
    before, after = started(err[:cut]), started(err[cut:])
    assert after == set(), f"steps started after Ctrl-C: {after}"
    assert f"{NAT}: created" in "\n".join(err[cut:])
    state = home.state(env)
    assert state["pending"] == {}, "every running step finished and was saved"
    assert set(state["resources"]) == before, "exactly the steps running at Ctrl-C were done"
    assert len(state["resources"]) < RESOURCES
    assert not lock_of(home, env)[1]

    home.ngp("up", "--env", env, "--yes", check=True)
    assert counts(home.tagged(env)) == EXPECTED
    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


def test_second_ctrl_c_quits_at_once_and_the_next_run_settles_what_was_in_flight(model_home):
    home = model_home
    env = home.env("ctrl-c-twice")
    run = Watched(home.popen("up", "--env", env, "--yes"))
    try:
        run.wait_for(f"{NAT}: creating...", timeout=90)
        run.proc.send_signal(signal.SIGINT)
        run.wait_for("warning: interrupted: waiting for", timeout=10)
        # The quick steps started with it end; the NAT gateway's call goes on for seconds.
        wait_until(lambda: list(home.state(env)["pending"]) == [NAT], 10,
                   "the quick steps did not end")
        run.proc.send_signal(signal.SIGINT)
        pressed = time.monotonic()
        code = run.end(timeout=30)
        took = time.monotonic() - pressed
    finally:
        run.kill()
    err = run.err
    assert code == 130, "\n".join(err)
    print(f"second Ctrl-C to exit: {took:.2f}s")
    assert took < 2.0, f"the second Ctrl-C took {took:.1f}s to quit"
    assert err[-1] == ("error: quitting now: 1 step was still running; its intent is saved, and "
                       "the next run settles them."), err[-3:]
    assert "Traceback" not in "\n".join(err)
    assert not any(line.startswith(f"{NAT}: created") for line in err)
    state = home.state(env)
    assert list(state["pending"]) == [NAT], "the NAT gateway's intent is saved, not its result"
    note, alive = lock_of(home, env)
    assert not alive and not note, "the lock was released (its note cleared) before the exit"

    # The create the run left goes on in AWS; once it has landed, the next run adopts it.
    wait_until(lambda: counts(home.tagged(env))["nat"] == 1, 30, "the NAT gateway never came")
    assert home.state(env) == state, "nothing wrote the state after the quit"
    again = home.ngp("up", "--env", env, "--yes", check=True)
    assert f"{NAT}: adopted" in again.stderr
    assert "took over the lock" not in again.stderr
    tagged = home.tagged(env)
    assert counts(tagged) == EXPECTED
    state = home.state(env)
    assert state["pending"] == {} and state_ids(state) == owned_ids(tagged)
    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


def test_ctrl_c_at_the_confirmation_prompt_is_one_line_and_exit_130(model_home):
    home = model_home
    env = home.env("ctrl-c-prompt")
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ngp", "up", "--env", env], cwd=home.root,
                            env={**os.environ, "NGP_HOME": str(home.root)},
                            stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    try:
        read_until(primary, "Apply these changes")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        shown = read_until(primary, "continue.", timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(primary)
    assert code == 130
    lines = [line for line in ANSI.sub("", shown).splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in shown, shown
    assert lines[0].endswith(INTERRUPTED), shown  # after the prompt's question
    assert all_ids(home.tagged(env)) == set() and not (home.root / "state" /
                                                       f"{env}.json").exists()
