"""`ngp up --replace ADDR` and `ngp up --refresh-only` (issue 17), as a user runs them: real
`ngp` processes against the sandbox, the network module."""

from __future__ import annotations

import json
import re

from tests.homes import all_ids, one_error_line

RTB = "network.route_table.public"


def api_calls(stdout: str) -> set[str]:
    """The AWS operations a `--stats` table lists (service.Operation)."""
    return set(re.findall(r"\b[a-z0-9]+\.[A-Z][A-Za-z]+\b", stdout))


def test_replace_rebuilds_one_object_planned_saved_and_applied(home, tmp_path):
    env = home.env("replace")
    home.ngp("up", "--env", env, "--yes", check=True)
    before = {a: r["id"] for a, r in home.state(env)["resources"].items()}
    outputs = home.state(env)["outputs"]
    assert "vpc_id" in outputs

    plan = home.ngp("plan", "--env", env, "--replace", RTB, "--json", check=True)
    changes = {c["address"]: c for c in json.loads(plan.stdout)["changes"]}
    assert changes[RTB]["action"] == "replace"
    assert changes[RTB]["reason"] == "requested with --replace"
    # What uses its id follows (an association is replaced: its route table forces it);
    # nothing else is touched.
    assert all(a == RTB or "route_table_association.public" in a for a in changes), changes

    saved = tmp_path / "replace.plan"
    home.ngp("plan", "--env", env, "--replace", RTB, "--out", str(saved), check=True)
    up = home.ngp("up", str(saved), check=True)
    assert "Apply complete" in up.stdout and "replaced" in up.stdout
    after = {a: r["id"] for a, r in home.state(env)["resources"].items()}
    assert home.state(env)["outputs"] == outputs  # the env's, not the last no-op's
    assert after[RTB] != before[RTB]
    assert after[RTB] in all_ids(home.tagged(env)) and before[RTB] not in all_ids(
        home.tagged(env))
    unchanged = {a for a in before if a != RTB and "route_table_association" not in a}
    assert {a: after[a] for a in unchanged} == {a: before[a] for a in unchanged}
    again = home.ngp("plan", "--env", env, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

    # What --replace cannot do is one line saying what to do.
    unknown = home.ngp("plan", "--env", env, "--replace", "network.nope")
    assert unknown.returncode == 1
    line = one_error_line(unknown.stderr)
    assert "--replace network.nope: no resource" in line and "ngp state list" in line
    with_plan = home.ngp("up", str(saved), "--replace", RTB)
    assert "cannot change a saved plan" in one_error_line(with_plan.stderr)
    home.ngp("down", "--env", env, "--yes", check=True)


def test_refresh_only_accepts_drift_into_the_state_and_changes_nothing_in_aws(home):
    env = home.env("accept")
    home.ngp("up", "--env", env, "--yes", check=True)
    state = home.state(env)
    vpc = state["resources"]["network.vpc"]
    home.ec2().create_tags(Resources=[vpc["id"]], Tags=[{"Key": "Name", "Value": "by-hand"}])

    plan = home.ngp("plan", "--env", env, "--refresh-only", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "Refresh only" in plan.stdout
    assert f'~ name = "{vpc["spec"]["name"]}" -> "by-hand"' in plan.stdout
    assert "Plan: 1 to record, 0 to forget from the state; nothing in AWS changes." \
        in plan.stdout

    up = home.ngp("up", "--env", env, "--refresh-only", "--yes", "--stats", check=True)
    assert "Apply complete: 1 recorded in" in up.stdout
    calls = api_calls(up.stdout)
    assert calls and all(re.match(r"\w+\.(Describe|List|Get)", c) for c in calls), calls
    after = home.state(env)
    assert after["resources"]["network.vpc"]["spec"]["name"] == "by-hand"
    assert after["serial"] > state["serial"]
    others = {a: r for a, r in after["resources"].items() if a != "network.vpc"}
    assert others == {a: r for a, r in state["resources"].items() if a != "network.vpc"}
    tags = home.ec2().describe_vpcs(VpcIds=[vpc["id"]])["Vpcs"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["Name"] == "by-hand"  # AWS untouched

    # Accepted: a refresh-only plan has nothing more; a normal plan changes it back to the
    # config, no longer as drift.
    assert "No changes." in home.ngp("plan", "--env", env, "--refresh-only", check=True).stdout
    normal = home.ngp("plan", "--env", env, "--json", check=True)
    (change,) = json.loads(normal.stdout)["changes"]
    assert (change["address"], change["action"], change["reason"]) == (
        "network.vpc", "update", "")
    assert change["fields"][0]["old"] == "by-hand"
    home.ngp("up", "--env", env, "--yes", check=True)
    tags = home.ec2().describe_vpcs(VpcIds=[vpc["id"]])["Vpcs"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["Name"] == vpc["spec"]["name"]
    home.ngp("down", "--env", env, "--yes", check=True)
