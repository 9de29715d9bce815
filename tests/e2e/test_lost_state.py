"""ngp knows what it made from its tags (issue 18): a lost state, or a line of it, never
makes a duplicate or leaves an orphan; two objects of one address stop the plan. Real `ngp`
processes against the sandbox."""

from __future__ import annotations

import json

from tests.e2e.test_cli import counts
from tests.homes import all_ids, one_error_line


def _drop_line(home, env: str, address: str) -> str:
    """Remove one resource's line from the env's state file; returns its id."""
    path = home.root / "state" / f"{env}.json"
    doc = json.loads(path.read_text())
    id = doc["resources"].pop(address)["id"]
    path.write_text(json.dumps(doc))
    return id


def _lose_state(home, env: str) -> None:
    (home.root / "state" / f"{env}.json").unlink()


def _tagged_at(home, env: str, address: str) -> set[str]:
    """Every VPC, subnet or instance tagged for env at address (live)."""
    ec2, found = home.ec2(), set()
    flt = [{"Name": "tag:ngp:env", "Values": [env]},
           {"Name": "tag:ngp:address", "Values": [address]}]
    found |= {v["VpcId"] for v in ec2.describe_vpcs(Filters=flt)["Vpcs"]}
    found |= {s["SubnetId"] for s in ec2.describe_subnets(Filters=flt)["Subnets"]}
    found |= {i["InstanceId"] for r in ec2.describe_instances(Filters=flt)["Reservations"]
              for i in r["Instances"] if i["State"]["Name"] != "terminated"}
    return found


def test_lost_state_then_up_adopts_everything_and_creates_nothing(home):
    env = home.env("lost")
    home.ngp("up", "--env", env, "--yes", check=True)
    before = home.tagged(env)
    _lose_state(home, env)

    plan = home.ngp("plan", "--env", env, check=True)
    assert "<= adopt network.vpc" in plan.stdout, plan.stdout
    assert "0 to add, 0 to change, 0 to destroy" in plan.stdout, plan.stdout
    up = home.ngp("up", "--env", env, "--yes", check=True)
    assert "created" not in up.stdout.split("Apply complete")[-1], up.stdout
    assert home.tagged(env) == before  # nothing made twice
    again = home.ngp("plan", "--env", env, "--detailed-exitcode")
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout + again.stderr
    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


def test_state_rebuild_makes_a_lost_state_then_plan_has_no_changes(home):
    env = home.env("rebuilt", modules='["network", "manager"]')
    home.ngp("up", "--env", env, "--yes", check=True)
    lineage = home.state(env)["lineage"]
    before = home.tagged(env)
    _lose_state(home, env)

    rebuilt = home.ngp("state", "rebuild", "--env", env, check=True)
    assert "Rebuilt the state" in rebuilt.stdout, rebuilt.stdout
    assert "user_data" in rebuilt.stderr  # what no read shows is said
    assert home.state(env)["lineage"] == lineage  # the objects' own
    plan = home.ngp("plan", "--env", env, "--detailed-exitcode")
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr
    refused = home.ngp("state", "rebuild", "--env", env)
    assert refused.returncode == 1
    assert "not rebuilt over" in one_error_line(refused.stderr)
    assert home.tagged(env) == before
    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


def test_a_line_removed_then_up_makes_no_duplicate(home):
    env = home.env("oneline", modules='["network", "manager"]')
    home.ngp("up", "--env", env, "--yes", check=True)
    counted = counts(home.tagged(env))
    for address in ("manager.instance", "network.vpc"):
        id = _drop_line(home, env, address)
        up = home.ngp("up", "--env", env, "--yes", check=True)
        assert f"adopt {address}" in up.stdout, up.stdout
        assert _tagged_at(home, env, address) == {id}
        assert home.state(env)["resources"][address]["id"] == id
    assert counts(home.tagged(env)) == counted
    home.ngp("down", "--env", env, "--yes", check=True)


def test_down_after_a_line_was_removed_leaves_nothing_tagged(home):
    env = home.env("orphan")
    home.ngp("up", "--env", env, "--yes", check=True)
    id = _drop_line(home, env, "network.vpc")
    kept = home.ngp("down", "--env", env, "--yes", "--keep-unknown", check=True)
    assert "network.vpc" in kept.stderr and id in kept.stderr, kept.stderr
    assert all_ids(home.tagged(env)) == {id}  # listed, kept

    down = home.ngp("down", "--env", env, "--yes", check=True)
    assert "not in the state; deleted too" in down.stderr, down.stderr
    assert all_ids(home.tagged(env)) == set()


def test_two_objects_of_one_address_stop_the_plan_naming_both(home):
    env = home.env("twice")
    home.ngp("up", "--env", env, "--yes", check=True)
    state = home.state(env)
    first = state["resources"]["network.vpc"]["id"]
    ec2 = home.ec2()
    second = ec2.create_vpc(CidrBlock="10.99.0.0/16", TagSpecifications=[{
        "ResourceType": "vpc", "Tags": [
            {"Key": "ngp:env", "Value": env}, {"Key": "ngp:address", "Value": "network.vpc"},
            {"Key": "ngp:lineage", "Value": state["lineage"]}]}])["Vpc"]["VpcId"]
    try:
        for command in (["plan"], ["up", "--yes"]):
            proc = home.ngp(*command, "--env", env)
            assert proc.returncode == 1
            line = one_error_line(proc.stderr)
            assert "network.vpc" in line and first in line and second in line, line
        assert _tagged_at(home, env, "network.vpc") == {first, second}  # nothing changed
    finally:
        ec2.delete_vpc(VpcId=second)
    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


def test_down_with_the_state_lost_deletes_what_is_tagged_for_the_env(home):
    """Marathon apps too: listed by their labels (their endpoint is the gate's, unknown)."""
    env = home.env("lostdown", modules='["network", "jenkins"]')
    home.ngp("up", "--env", env, "--yes", check=True)
    assert home.tagged(env)["app"]
    _lose_state(home, env)
    down = home.ngp("down", "--env", env, "--yes", check=True)
    assert "not in the state; deleted too" in down.stderr, down.stderr
    assert all_ids(home.tagged(env)) == set()


def test_whole_platform_state_lost_then_up_makes_no_aws_object_again(home):
    """Every module: only the ready gate (it makes nothing; it waits again) and the Marathon
    apps, whose endpoint comes from it, may be applied again: by their own ids, no duplicate
    (the sandbox's apps are adopted by their labels, and none is PUT again)."""
    env = home.env("lostall", full=True,
                   **{'domain = "sandbox.ngp.test"': 'domain = "lostall.ngp.test"'})
    home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    before = home.tagged(env)
    _lose_state(home, env)
    up = home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    made = {line.split(":")[0] for line in up.stderr.splitlines() if ": created after" in line}
    assert all(kind in ("marathon.ready", "marathon.app") for kind in (
        home.state(env)["resources"][a]["kind"] for a in made)), made
    assert home.tagged(env) == before
    plan = home.ngp("plan", "--env", env, "--detailed-exitcode", timeout=300)
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr

    # Lost again, rebuilt: the gate is waited for again (it made nothing to find), the apps
    # are listed by their labels, the plan has nothing to do, and `down` leaves none.
    _lose_state(home, env)
    home.ngp("state", "rebuild", "--env", env, check=True, timeout=300)
    kinds = [r["kind"] for r in home.state(env)["resources"].values()]
    assert kinds.count("marathon.ready") == 1 and kinds.count("marathon.app") == 8, kinds
    plan = home.ngp("plan", "--env", env, "--detailed-exitcode", timeout=300)
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr
    home.ngp("down", "--env", env, "--yes", check=True, timeout=600)
    assert all_ids(home.tagged(env)) == set()
