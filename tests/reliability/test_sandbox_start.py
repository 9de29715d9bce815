"""Several commands starting the sandbox at once (issue 19): one sandbox per project, whoever
asks; the env's lock is taken before the sandbox is started; a sandbox removes only its own
server.json. Real `ngp` processes against a project whose sandbox is stopped."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

from ngp.config import Project
from ngp.sandbox import control
from tests.homes import Home


def _sandboxes(root: Path) -> set[int]:
    """The sandbox processes serving this project (their command line names its server.json)."""
    info = str(root / "state" / "sandbox" / "server.json")
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"ngp.sandbox" in argv and info.encode() in argv and \
                    (entry / "stat").read_text().split()[2] != "Z":
                found.add(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def _stop(root: Path) -> set[int]:
    """Stop the project's sandbox, then kill any other left serving it (an orphan, on the old
    code): returns those orphans, so a test can say there were none."""
    control.stop(Project(root))
    orphans = _sandboxes(root)
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    return orphans


def test_commands_started_together_share_one_sandbox_and_wait_for_the_envs_lock(tmp_path):
    home = Home(tmp_path)
    one, two = home.env("one"), home.env("two")
    assert _sandboxes(tmp_path) == set()
    try:
        # Two runs of one env (the second waits for the first's lock) and one of another env.
        runs = [home.popen("up", "--env", one, "--yes", "--lock-timeout", "2m"),
                home.popen("up", "--env", one, "--yes", "--lock-timeout", "2m"),
                home.popen("up", "--env", two, "--yes")]
        results = [(run.communicate(timeout=180), run.returncode) for run in runs]
        for (out, err), code in results:
            assert code == 0, out + err
        assert sum("started the sandbox" in err for (_, err), _ in results) == 1, results
        pid = home.sandbox()["pid"]
        assert _sandboxes(tmp_path) == {pid}  # one sandbox, and server.json names it
        for env in (one, two):
            assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
        assert len(home.tagged(one)["vpc"]) == 1 and len(home.tagged(two)["vpc"]) == 1
    finally:
        assert _stop(tmp_path) == set()


def test_the_loser_of_the_envs_lock_names_its_holder_and_starts_nothing(tmp_path):
    home = Home(tmp_path)
    env = home.env("solo")
    try:
        runs = [home.popen("up", "--env", env, "--yes") for _ in range(2)]
        results = [(run.communicate(timeout=180), run.returncode) for run in runs]
        assert 0 in [code for _, code in results], results
        for (out, err), code in results:
            # Either it came after the winner (nothing to do) or it names the lock's holder
            # at once (not "the sandbox did not answer" after a minute).
            assert code == 0 or "is locked by" in err, out + err
        assert _sandboxes(tmp_path) == {home.sandbox()["pid"]}
        assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    finally:
        assert _stop(tmp_path) == set()


def test_two_starts_at_once_in_one_process_give_one_sandbox(tmp_path):
    project = Project(tmp_path)
    answers: list[tuple[dict, bool]] = []
    starters = [threading.Thread(target=lambda: answers.append(control.start(project)))
                for _ in range(2)]
    try:
        for starter in starters:
            starter.start()
        for starter in starters:
            starter.join(timeout=90)
        assert len(answers) == 2
        assert answers[0][0]["pid"] == answers[1][0]["pid"]
        assert sorted(started for _, started in answers) == [False, True]
        assert _sandboxes(tmp_path) == {answers[0][0]["pid"]}
    finally:
        assert _stop(tmp_path) == set()


def test_a_sandbox_removes_only_its_own_server_file(tmp_path):
    path = tmp_path / "server.json"
    path.write_text(json.dumps({"pid": os.getpid(), "endpoint": "http://127.0.0.1:1"}))
    control.remove_own(path, os.getpid() + 1)  # another (an orphan, a late stop): kept
    assert path.exists()
    control.remove_own(path, os.getpid())
    assert not path.exists()
    control.remove_own(path, os.getpid())  # already gone: nothing to do
