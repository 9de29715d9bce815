"""The CLI as a user runs it, against the sandbox over HTTP."""

from __future__ import annotations

import json
import os
import stat

from tests.homes import all_ids, one_error_line, owned_ids, state_ids

EXPECTED = {"vpc": 1, "subnet": 6, "igw": 1, "eip": 1, "nat": 1, "rtb": 4, "sg": 5,
            "key_pair": 1, "instance": 0, "secret": 1, "role": 0, "profile": 0, "policy": 0,
            "bucket": 0, "app": 0, "group_instance": 0, "launch_template": 0, "group": 0,
            "lb": 0, "repository": 0, "domain": 0, "function": 0, "rule": 0, "rest_api": 0,
            "log_group": 0}
RESOURCES = sum(EXPECTED.values()) + 6  # plus the route table associations


def counts(tagged):
    return {kind: len(ids) for kind, ids in tagged.items()}


def test_up_plan_status_change_down(home):
    env = home.env("life")
    up = home.ngp("up", "--env", env, "--yes", check=True)
    assert f"Apply complete: {RESOURCES} created" in up.stdout
    assert "vpc_id" in up.stdout  # outputs are shown

    plan = home.ngp("plan", "--env", env, "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes." in plan.stdout

    tagged = home.tagged(env)
    assert counts(tagged) == EXPECTED
    state = home.state(env)
    assert state_ids(state) == owned_ids(tagged), "every tagged object is in the state"
    assert stat.S_IMODE(os.stat(home.root / "state" / f"{env}.json").st_mode) == 0o600

    status = json.loads(home.ngp("status", "--env", env, "--json", check=True).stdout)
    assert len(status["resources"]) == RESOURCES
    assert {r["status"] for r in status["resources"]} <= {"available", "attached",
                                                          "associated"}
    outputs = json.loads(home.ngp("outputs", "--env", env, "--json", check=True).stdout)
    assert outputs["vpc_id"] in tagged["vpc"]
    assert set(outputs["private_subnet_ids"]) < tagged["subnet"]

    # One setting changes: only the groups that use it change, in place.
    home.env(env, text=(home.root / "envs" / f"{env}.toml").read_text().replace(
        'admin_cidrs = ["127.0.0.1/32"]', 'admin_cidrs = ["127.0.0.1/32", "198.51.100.0/24"]'))
    plan = home.ngp("plan", "--env", env, "--json", "--detailed-exitcode")
    assert plan.returncode == 2
    changes = {c["address"]: c["action"] for c in json.loads(plan.stdout)["changes"]}
    assert changes == {"network.sg.admin": "update", "network.sg.vpn": "update",
                       "network.sg.master_lb": "update"}
    up = home.ngp("up", "--env", env, "--yes", check=True)
    assert "Apply complete: 3 updated" in up.stdout
    assert home.tagged(env) == tagged, "an update in place keeps every object"
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0

    down = home.ngp("down", "--env", env, "--yes", check=True)
    assert f"Destroy complete: {RESOURCES} deleted" in down.stdout
    assert all_ids(home.tagged(env)) == set()
    assert home.state(env)["resources"] == {} and home.state(env)["pending"] == {}


def test_up_without_yes_and_without_terminal_changes_nothing(home):
    env = home.env("noyes")
    proc = home.ngp("up", "--env", env)
    assert proc.returncode == 1
    assert "--yes" in one_error_line(proc.stderr)
    assert all_ids(home.tagged(env)) == set()


def test_bad_settings_are_one_line_and_reach_no_aws(home):
    # The endpoint is a closed port: an AWS call would fail differently, and slowly.
    env = home.env("typo", **{"sandbox = true": 'endpoint_url = "http://127.0.0.1:9"',
                              "region =": "regoin = \"x\"\nregion ="})
    for command in (["plan"], ["up", "--yes"], ["status"], ["down", "--yes"]):
        proc = home.ngp(*command, "--env", env, timeout=20)
        assert proc.returncode == 1
        line = one_error_line(proc.stderr)
        assert "envs/typo.toml: unknown key 'regoin' at the top level; did you mean " \
            "'region'?" in line


def test_account_not_allowed_is_refused(home):
    env = home.env("wrongacct", **{'["123456789012"]': '["111111111111"]'})
    proc = home.ngp("up", "--env", env, "--yes")
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert "account 123456789012" in line and "allowed_account_ids" in line
    assert all_ids(home.tagged(env)) == set()


def test_unknown_env_lists_the_known_ones(home):
    proc = home.ngp("plan", "--env", "nosuch")
    assert proc.returncode == 1
    assert "envs/nosuch.toml not found" in one_error_line(proc.stderr)


def test_corrupt_state_is_refused_and_kept(home):
    env = home.env("corrupt")
    path = home.root / "state" / f"{env}.json"
    path.write_text('{"format": 1, "env": "corrupt", "lin')
    proc = home.ngp("up", "--env", env, "--yes")
    assert proc.returncode == 1
    assert "not valid JSON" in one_error_line(proc.stderr)
    assert path.read_text() == '{"format": 1, "env": "corrupt", "lin'
    assert all_ids(home.tagged(env)) == set()


def test_target_applies_only_the_target_and_what_it_needs(home):
    env = home.env("target")
    proc = home.ngp("up", "--env", env, "--yes", "--target", "network.subnet.public[a]",
                    check=True)
    # A public subnet needs its internet gateway (what maps public addresses in it goes
    # before the gateway is detached).
    assert "Apply complete: 3 created" in proc.stdout
    assert set(home.state(env)["resources"]) == {"network.vpc", "network.igw",
                                                 "network.subnet.public[a]"}
    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


def test_adopted_vpc_is_used_and_never_deleted(home):
    ec2 = home.ec2()
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.99.{i}.0/24",
                                 AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
               for i in range(2)]
    env = home.env("adopt", **{'cidr = "10.0.0.0/16"': (
        f'existing_vpc_id = "{vpc}"\nexisting_public_subnet_ids = ["{subnets[0]}"]\n'
        f'existing_private_subnet_ids = ["{subnets[1]}"]')})
    up = home.ngp("up", "--env", env, "--yes", check=True)
    assert "7 created" in up.stdout and "3 read" in up.stdout
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    assert len([g for g in groups["SecurityGroups"] if g["GroupName"] != "default"]) == 5
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    home.ngp("down", "--env", env, "--yes", check=True)
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["State"] == "available"
    assert len(ec2.describe_subnets(SubnetIds=subnets)["Subnets"]) == 2
    assert all_ids(home.tagged(env)) == set()


def test_graph_state_and_sandbox_commands(home):
    dot = home.ngp("graph", "--env", "sandbox", check=True).stdout
    assert dot.startswith("digraph ngp {")
    assert '"network.vpc" -> "network.subnet.public[a]";' in dot
    mermaid = home.ngp("graph", "--env", "sandbox", "--format", "mermaid", check=True).stdout
    assert mermaid.startswith("flowchart LR") and "network.nat[a]" in mermaid

    env = home.env("statecmd")
    home.ngp("up", "--env", env, "--yes", "--target", "network.vpc", check=True)
    listing = home.ngp("state", "list", "--env", env, check=True).stdout
    assert "network.vpc\tec2.vpc\tvpc-" in listing
    shown = json.loads(home.ngp("state", "show", "--env", env, "network.vpc", check=True).stdout)
    assert shown["spec"]["cidr"] == "10.0.0.0/16"
    assert "not locked" in home.ngp("state", "unlock", "--env", env, check=True).stdout

    info = json.loads(home.ngp("sandbox", "status", "--json", check=True).stdout)
    assert info["running"] and info["endpoint"].startswith("http://127.0.0.1:")
    assert info["pid"] == home.sandbox()["pid"]
    assert info["marathon_nodes"] == [2, 1]  # as envs/sandbox.toml's dcos agents
    assert "Marathon at http" in home.ngp("sandbox", "status", check=True).stdout
    bad = home.ngp("sandbox", "start", "--marathon-nodes", "two")
    assert bad.returncode == 1 and "is not PRIVATE,PUBLIC agent counts" in bad.stderr
    again = home.ngp("sandbox", "start", "--marathon-nodes", "3,1", check=True)
    assert "already runs with --marathon-nodes 2,1" in again.stderr
    home.ngp("down", "--env", env, "--yes", check=True)


def test_up_stats_gives_wall_time_critical_path_and_calls(home):
    import re

    env = home.env("stats")
    up = home.ngp("up", "--env", env, "--yes", "--stats", check=True)
    figures = re.search(r"apply ([\d.]+)s; the critical path of its steps ([\d.]+)s", up.stdout)
    assert figures, up.stdout
    apply, bound = map(float, figures.groups())
    assert 0 < bound <= apply * 1.01  # no schedule beats the longest chain of its steps
    assert re.search(r"\d+ API calls in [\d.]+s", up.stdout)
    assert "ec2.CreateVpc" in up.stdout
    home.ngp("down", "--env", env, "--yes", check=True)
