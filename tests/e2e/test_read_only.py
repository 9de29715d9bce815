"""Read-only commands change nothing: for a sandbox env, `plan`, `status` and `outputs` never
start the sandbox nor make its hosted zone; `up` does both, and says so."""

from __future__ import annotations

import pytest

from tests.homes import Home, one_error_line


@pytest.fixture
def fresh(tmp_path):
    """A project whose sandbox is not running."""
    project = Home(tmp_path)
    yield project
    project.stop()


def test_plan_and_status_start_no_sandbox_and_make_no_zone(fresh):
    server = fresh.root / "state" / "sandbox" / "server.json"
    env = fresh.env("quiet", modules='["network"]')  # domain quiet.ngp.test
    assert fresh.ngp("outputs", "--reveal", "--env", env, check=True).stdout == "No outputs.\n"
    for command in (["plan"], ["status"]):
        proc = fresh.ngp(*command, "--env", env)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        line = one_error_line(proc.stderr)
        assert "the sandbox is not running" in line and "ngp up --env quiet" in line
        assert not server.exists()  # no process was started

    fresh.ngp("sandbox", "start", check=True, timeout=90)
    route53 = fresh.client("route53")
    for command in ("plan", "status"):
        # Said, not made: the plan then stops at the network's lookup of the zone.
        proc = fresh.ngp(command, "--env", env)
        assert "note: the sandbox has no hosted zone quiet.ngp.test yet" in proc.stderr
        assert route53.list_hosted_zones()["HostedZones"] == []
    assert "error: network.zone: no public hosted zone for quiet.ngp.test" in proc.stderr

    proc = fresh.ngp("up", "--env", env, "--yes", "--target", "network.vpc", check=True)
    assert "made the sandbox's hosted zone quiet.ngp.test" in proc.stderr
    assert [z["Name"] for z in route53.list_hosted_zones()["HostedZones"]] == [
        "quiet.ngp.test."]
    assert fresh.ngp("plan", "--env", env).returncode == 0


def test_up_says_it_started_the_sandbox(fresh):
    env = fresh.env("loud")
    proc = fresh.ngp("up", "--env", env, "--yes", "--target", "network.vpc", check=True)
    assert "started the sandbox at http://127.0.0.1:" in proc.stderr
    fresh.ngp("down", "--env", env, "--yes", check=True)
