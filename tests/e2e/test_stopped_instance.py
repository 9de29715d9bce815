"""An instance is wanted running (issue 19, item 2). A run killed between a type change's
modify and start leaves the instance stopped with its new type; so does a stop by hand.
Comparing the spec's fields alone, plan and up then said "No changes" and only status showed
it. Now the plan compares the live state too: an update that starts it."""

from __future__ import annotations

import json

from tests.e2e.test_ownership import running as state_of


def test_a_stopped_instance_is_planned_started_and_up_starts_it(home):
    env = home.env("stopped", modules='["network", "openvpn"]')
    home.ngp("up", "--env", env, "--yes", check=True, timeout=300)
    vpn = home.state(env)["resources"]["openvpn.instance"]["id"]
    ec2 = home.ec2()
    ec2.stop_instances(InstanceIds=[vpn])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[vpn],
                                            WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    plan = home.ngp("plan", "--env", env, "--json", "--detailed-exitcode", timeout=120)
    assert plan.returncode == 2, plan.stdout + plan.stderr
    changes = {c["address"]: c for c in json.loads(plan.stdout)["changes"]}
    started = changes["openvpn.instance"]
    assert started["action"] == "update"
    assert [(f["name"], f["old"], f["new"]) for f in started["fields"]] == [
        ("state", "stopped", "running")]
    assert [a for a, c in changes.items() if c["action"] != "no-op"] == ["openvpn.instance"]

    home.ngp("up", "--env", env, "--yes", check=True, timeout=300)
    assert state_of(home, vpn) == "running"
    assert home.state(env)["resources"]["openvpn.instance"]["id"] == vpn  # the same machine
    again = home.ngp("plan", "--env", env, "--detailed-exitcode", timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    home.ngp("down", "--env", env, "--yes", check=True, timeout=300)
