"""Runs killed with SIGKILL at random moments (up, then down), each followed by a run that
must finish the job with no duplicate and no orphan; two runs at once on one env (Ctrl-C:
test_interrupts.py)."""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

from tests.e2e.test_cli import EXPECTED, RESOURCES, counts
from tests.homes import all_ids, owned_ids, race_at_prompt, state_ids
from tests.reliability.conftest import REPORT, found

# Trials on the whole platform: CI runs 6 (with 10 the suite took 24:46 once the tests of
# issues 17-19 came, too close to CI's 30 minutes); the longer mode: NGP_KILL_TRIALS=100.
TRIALS = int(os.environ.get("NGP_KILL_TRIALS", "6"))
NETWORK_TRIALS = max(2, TRIALS // 10)


def wait_for_serial(home, env, serial, proc, timeout=60.0):
    """Wait until the run has saved its state `serial` times (or has ended)."""
    path = home.root / "state" / f"{env}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads(path.read_text())["serial"] >= serial:
                return
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.005)


def kill(proc, moment: int) -> None:
    """SIGKILL the run, which must still be running: a kill that hits a process already
    gone proves nothing (moments are drawn from a measured save count, `saves`)."""
    assert proc.poll() is None, f"the run had ended before its kill at save {moment}"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the run ended by itself at save {moment}"


def measure_saves(home, name: str, **env_options) -> tuple[int, int]:
    """How many times a clean `up`, then a clean `down`, of such an env save the state: the
    range a kill moment is drawn from (saves are grouped when steps finish together, so
    the count varies a little run to run; moments stay within 80% of it)."""
    env = home.env(name, **env_options)
    home.ngp("up", "--env", env, "--yes", check=True)
    up = home.state(env)["serial"]
    home.ngp("down", "--env", env, "--yes", check=True)
    return up, home.state(env)["serial"] - up


def moment(rng: random.Random, saves: int, within: float = 0.8) -> int:
    return rng.randint(min(5, saves // 2), max(5, int(saves * within)))


# A down's deletes are quick and finish together, so on a loaded machine its saves group
# more than in the measured down (CI saw 3 of 8 downs end before a kill drawn within 80%).
DOWN_WITHIN = 0.6


@pytest.fixture(scope="module")
def network_saves(slow_home):
    return measure_saves(slow_home, "kill-measure-net")


@pytest.fixture(scope="module")
def full_saves(kill_home):
    return measure_saves(kill_home, "kill-saves", full=True,
                         **{'domain = "sandbox.ngp.test"': 'domain = "km.ngp.test"'})


@pytest.mark.parametrize("trial", range(NETWORK_TRIALS))
def test_up_killed_at_a_random_moment_resumes_with_no_duplicate_or_orphan(slow_home, trial,
                                                                          network_saves):
    REPORT["trials run"] += 1
    home = slow_home
    env = home.env(f"kill-up-{trial}")
    rng = random.Random(trial)
    up_saves, down_saves = network_saves
    at = moment(rng, up_saves)
    proc = home.popen("up", "--env", env, "--yes")
    wait_for_serial(home, env, at, proc)
    time.sleep(rng.random() * 0.03)  # land between saves, inside AWS calls too
    kill(proc, at)

    home.ngp("up", "--env", env, "--yes", check=True)
    tagged = home.tagged(env)
    state = home.state(env)
    found(EXPECTED, counts(tagged), owned_ids(tagged), state_ids(state))
    assert counts(tagged) == EXPECTED, f"duplicates after a kill at save {at}"
    assert state_ids(state) == owned_ids(tagged), "an object is not in the state"
    assert len(state["resources"]) == RESOURCES and state["pending"] == {}
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    REPORT["kills survived"] += 1

    # Now kill the down, and down again: nothing of the env is left.
    proc = home.popen("down", "--env", env, "--yes")
    at = state["serial"] + moment(rng, down_saves, DOWN_WITHIN)
    wait_for_serial(home, env, at, proc)
    kill(proc, at)
    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()
    assert home.state(env)["resources"] == {}
    REPORT["kills survived"] += 1


def test_second_run_on_a_locked_env_fails_at_once_naming_the_holder(home):
    env = home.env("race")

    def nothing_applied() -> None:
        REPORT["locks contended"] += 1
        assert not (home.root / "state" / f"{env}.json").exists()

    race_at_prompt(home, env, nothing_applied)
    assert counts(home.tagged(env)) == EXPECTED
    home.ngp("down", "--env", env, "--yes", check=True)


# Instances: OpenVPN, the manager, DC/OS's bootstrap node and 3 masters; the groups launch
# 2 private and 1 public agent.
FULL = {"vpc": 1, "subnet": 6, "igw": 1, "eip": 2, "nat": 1, "rtb": 4, "sg": 7, "key_pair": 1,
        "instance": 6, "group_instance": 3, "launch_template": 2, "group": 2, "lb": 4,
        "secret": 5, "role": 8, "profile": 5, "policy": 3, "bucket": 3, "app": 8,
        "repository": 2, "domain": 1, "function": 3, "rule": 1, "rest_api": 1, "log_group": 3}


@pytest.mark.parametrize("trial", range(TRIALS))
def test_whole_platform_killed_at_a_random_moment_resumes_cleanly(kill_home, trial, full_saves):
    """Every module on: instances, groups, functions, domains, apps and DNS records are
    adopted too. The kill lands anywhere in the up, then in the down, while each runs."""
    REPORT["trials run"] += 1
    home = kill_home
    env = home.env(f"kill-all-{trial}", full=True,
                   **{'domain = "sandbox.ngp.test"': f'domain = "k{trial}.ngp.test"'})
    rng = random.Random(100 + trial)
    up_saves, down_saves = full_saves
    at = moment(rng, up_saves)
    proc = home.popen("up", "--env", env, "--yes")
    wait_for_serial(home, env, at, proc)
    time.sleep(rng.random() * 0.03)
    kill(proc, at)

    home.ngp("up", "--env", env, "--yes", check=True)
    tagged = home.tagged(env)
    state = home.state(env)
    found(FULL, counts(tagged), owned_ids(tagged), state_ids(state))
    assert counts(tagged) == FULL
    assert state_ids(state) == owned_ids(tagged) and state["pending"] == {}
    if trial % 5 == 0:  # and the plan agrees (every fifth trial: a plan costs seconds)
        assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    REPORT["kills survived"] += 1

    proc = home.popen("down", "--env", env, "--yes")
    at = state["serial"] + moment(rng, down_saves, DOWN_WITHIN)
    wait_for_serial(home, env, at, proc)
    kill(proc, at)
    home.ngp("down", "--env", env, "--yes", check=True)
    left = all_ids(home.tagged(env))
    REPORT["orphans found"] += len(left)
    assert left == set()
    REPORT["kills survived"] += 1
