"""AWS and Marathon misbehaving on purpose: throttling on a share of calls, new EC2 objects
not visible at first, a Marathon app that always fails, a Marathon that does not answer."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tests.homes import REPO, Home, all_ids
from tests.reliability.conftest import REPORT

FAULTS = "throttle=0.1,consistency,marathon-fail=/badapp/platform/jenkins:503"


@pytest.fixture(scope="module")
def faulty_home(tmp_path_factory):
    project = Home(tmp_path_factory.mktemp("ngp-faults"))
    project.ngp("sandbox", "start", "--faults", FAULTS, check=True, timeout=90)
    yield project
    project.stop()


def test_the_whole_platform_comes_up_and_down_through_throttling_and_lag(faulty_home):
    """One request in ten throttled; every new VPC, subnet, group, gateway, address and
    instance not found by the first request that names it, as EC2 does."""
    home = faulty_home
    env = home.env("lag", modules=re.search(
        r"(?ms)^modules = (\[.*?\])", (REPO / "envs" / "sandbox.toml").read_text()
    ).group(1).replace('"jenkins", ', ""))
    REPORT["trials run"] += 1
    before = injected(home)
    home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    home.ngp("down", "--env", env, "--yes", check=True, timeout=600)
    left = all_ids(home.tagged(env))
    REPORT["orphans found"] += len(left)
    assert left == set()
    after = injected(home)
    faults = {kind: after[kind] - before[kind] for kind in after}
    REPORT["faults injected"] += sum(faults.values())
    # The run went through faults, not around them: both kinds were injected.
    assert faults["throttled"] > 10 and faults["not_yet_visible"] > 5, faults


def injected(home) -> dict[str, int]:
    """What the sandbox's fault layer has injected so far."""
    from ngp.sandbox.faults import INJECTED_PATH

    with urllib.request.urlopen(home.sandbox()["endpoint"] + INJECTED_PATH, timeout=10) as answer:
        return json.loads(answer.read())


def test_a_marathon_app_that_always_fails_is_named_and_the_rest_is_saved(faulty_home):
    home = faulty_home
    env = home.env("badapp", modules='["network", "docker_registry", "jenkins"]')
    up = home.ngp("up", "--env", env, "--yes", timeout=300)
    assert up.returncode == 1
    last = up.stderr.strip().splitlines()[-1]
    assert "marathon app /badapp/platform/jenkins" in last and "503" in last, last
    state = home.state(env)
    assert "docker_registry.app" in state["resources"] and "network.vpc" in state["resources"]
    # The failed create's intent stays until the next run settles it (nothing was made).
    assert "jenkins.app" not in state["resources"] and set(state["pending"]) <= {"jenkins.app"}
    home.ngp("down", "--env", env, "--yes", check=True, timeout=300)
    assert all_ids(home.tagged(env)) == set()


def test_a_marathon_that_does_not_answer_is_named_and_the_rest_is_saved(home):
    """An env on the sandbox's AWS (endpoint_url) whose Marathon is a closed port."""
    text = (REPO / "envs" / "sandbox.toml").read_text().split("[openvpn]")[0]
    text = re.sub(r"(?ms)^modules = \[.*?\]", 'modules = ["network", "jenkins"]', text)
    text = re.sub(r"(?m)^domain = .*$", "", text)
    text = text.replace("sandbox = true", f'endpoint_url = "{home.sandbox()["endpoint"]}"\n'
                        'marathon_url = "http://127.0.0.1:9"')
    text = text.replace('name_suffix = "sandbox"', 'name_suffix = "nomarathon"')
    env = home.env("nomarathon", text=text)
    up = home.ngp("up", "--env", env, "--yes", timeout=300)
    assert up.returncode == 1
    last = up.stderr.strip().splitlines()[-1]
    assert "jenkins" in last and "cannot reach Marathon" in last, last
    state = home.state(env)
    assert "network.vpc" in state["resources"] and set(state["pending"]) <= {"jenkins.app"}
    # Until Marathon answers, ngp cannot tell whether the app was made: it says so.
    blocked = home.ngp("down", "--env", env, "--yes", timeout=300)
    assert blocked.returncode == 1 and "cannot reach Marathon" in blocked.stderr
    path = home.root / "envs" / f"{env}.toml"
    path.write_text(path.read_text().replace("http://127.0.0.1:9", home.sandbox()[
        "marathon_url"]))
    home.ngp("down", "--env", env, "--yes", check=True, timeout=300)
    assert all_ids(home.tagged(env)) == set()
