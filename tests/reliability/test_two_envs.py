"""Two envs in one sandbox (one account, one DC/OS cluster's Marathon), up and down in any
order, never touch each other's objects (issue 14: env try2, made by `ngp init`, overwrote
env sandbox's /platform/jenkins and its `down` then deleted sandbox's Jenkins and Sysdig)."""

from __future__ import annotations

import re

import pytest

from tests.homes import Home, all_ids, owned_ids, state_ids


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    project = Home(tmp_path_factory.mktemp("ngp-two-envs"))
    project.ngp("sandbox", "start", check=True, timeout=90)
    yield project
    project.stop()


def holdings(home: Home, env: str) -> dict:
    """What the env has: every object tagged (or labelled) for it, and each Marathon app's
    version and labels, so an app taken over or rewritten shows."""
    apps = {a["id"]: (a["version"], a.get("labels", {}).get("NGP_ADDRESS"))
            for a in home.marathon_apps() if a.get("labels", {}).get("NGP_ENV") == env}
    return {"tagged": home.tagged(env), "apps": apps}


def untouched(home: Home, env: str, before: dict) -> None:
    assert holdings(home, env) == before, f"env {env}'s objects changed"
    plan = home.ngp("plan", "--env", env, "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes" in plan.stdout + plan.stderr


def test_two_envs_up_and_down_in_any_order_never_touch_each_other(shared):
    home = shared
    a = "sandbox"  # envs/sandbox.toml: every module, as in the report
    home.ngp("init", "--env", "try2", "--sandbox", "--yes",
             "--modules", "network,monitoring,jenkins", check=True)
    b = "try2"

    home.ngp("up", "--env", a, "--yes", check=True, timeout=300)
    a_before = holdings(home, a)
    assert set(a_before["apps"]) >= {"/sandbox/platform/jenkins",
                                     "/sandbox/platform/sysdig-agent"}

    # B comes up beside A: its own apps, A's untouched.
    plan = home.ngp("plan", "--env", b, check=True).stdout
    assert "+ jenkins.app" in plan and "/sandbox/" not in plan
    home.ngp("up", "--env", b, "--yes", check=True, timeout=300)
    b_before = holdings(home, b)
    assert set(b_before["apps"]) == {"/try2/platform/jenkins", "/try2/platform/sysdig-agent"}
    assert owned_ids(b_before["tagged"]) == state_ids(home.state(b))
    untouched(home, a, a_before)

    # An env whose names are A's (the same name_suffix) stops at the first name A owns, in
    # one line naming it and its env; it leaves no intent behind, and goes down cleanly.
    clash = home.env("clash", modules='["network", "monitoring"]',
                     **{'name_suffix = "clash"': 'name_suffix = "sandbox"'})
    up = home.ngp("up", "--env", clash, "--yes", timeout=300)
    assert up.returncode == 1
    last = up.stderr.strip().splitlines()[-1]
    assert re.search(r"^error: [\w.]+: secret 'ngp-[\w-]+-sandbox' exists and belongs to "
                     r"env 'sandbox', not env 'clash'\. ", last), last
    assert home.state(clash)["pending"] == {}
    home.ngp("down", "--env", clash, "--yes", check=True, timeout=300)
    assert all_ids(home.tagged(clash)) == set()
    untouched(home, a, a_before)

    # B goes down: all of B gone, all of A still there.
    home.ngp("down", "--env", b, "--yes", check=True, timeout=300)
    assert all_ids(home.tagged(b)) == set()
    untouched(home, a, a_before)
    assert owned_ids(a_before["tagged"]) == state_ids(home.state(a))

    # The other order: B up again, then A down; B untouched.
    home.ngp("up", "--env", b, "--yes", check=True, timeout=300)
    b_again = holdings(home, b)
    home.ngp("down", "--env", a, "--yes", check=True, timeout=300)
    assert all_ids(home.tagged(a)) == set()
    untouched(home, b, b_again)
    home.ngp("down", "--env", b, "--yes", check=True, timeout=300)
    assert all_ids(home.tagged(b)) == set() and home.marathon_apps() == []
