"""Every call ngp makes in real runs of the whole sandbox env (up, a rename, an engine version
change, down) is allowed by the policy `ngp permissions` prints for the env, evaluated as IAM
evaluates it (ngp/sandbox/policy_eval.py).

The calls are ngp's own ($NGP_CALL_LOG: each call with the names and ARNs it acts on). IAM
calls, where an escalation would be, are checked whole: action, the resource's ARN and the
condition keys the policy relies on (iam:PermissionsBoundary: the role's boundary as the run
set it; iam:PolicyARN; iam:AWSServiceName). Calls of the other services are checked by action
(their ARNs are not in the log); the unit tests check those statements' scoping."""

from __future__ import annotations

import json

from ngp.aws import iam_action
from ngp.sandbox.policy_eval import ALLOWED, Request, _wildcard, decide

ACCOUNT = "123456789012"


def iam_request(entry: dict, env: str, boundaries: dict[str, str]) -> Request:
    """The IAM request of a logged call, its role's boundary tracked through the run."""
    action, params = iam_action(entry["call"]), entry["params"]
    path = params.get("Path", f"/ngp/{env}/")
    context = {}
    if "PolicyArn" in params:
        context["iam:PolicyARN"] = params["PolicyArn"]
    if "AWSServiceName" in params:
        context["iam:AWSServiceName"] = params["AWSServiceName"]
    if action == "iam:CreateServiceLinkedRole":
        resource = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{params['AWSServiceName']}/x"
    elif "RoleName" in params and "InstanceProfileName" not in params:
        role = params["RoleName"]
        if action in ("iam:CreateRole", "iam:PutRolePermissionsBoundary") \
                and "PermissionsBoundary" in params:
            boundaries[role] = params["PermissionsBoundary"]
        if role in boundaries:
            context["iam:PermissionsBoundary"] = boundaries[role]
        resource = f"arn:aws:iam::{ACCOUNT}:role/ngp/{env}/{role}"
    elif "InstanceProfileName" in params:
        resource = (f"arn:aws:iam::{ACCOUNT}:instance-profile{path}"
                    f"{params['InstanceProfileName']}")
    elif "PolicyArn" in params:
        resource = params["PolicyArn"]
    elif action == "iam:CreatePolicy":
        resource = f"arn:aws:iam::{ACCOUNT}:policy{path}{params['PolicyName']}"
    else:
        resource = "*"  # a listing
    return Request(action, resource, context)


def refused(log: list[dict], document: dict, env: str) -> list[str]:
    boundaries: dict[str, str] = {}
    allows = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    found = []
    for entry in log:
        action = iam_action(entry["call"])
        if entry["call"].startswith("sts.") or entry["call"] == "route53.CreateHostedZone":
            # GetCallerIdentity needs no permission; the hosted zone is the sandbox's own
            # preparation (ngp/sandbox/control.py prepare: what a real account already has).
            continue
        if action.startswith("iam:"):
            request = iam_request(entry, env, boundaries)
            if decide([document], request) != ALLOWED:
                found.append(f"{entry['call']} {request.resource} {request.context}")
        elif not any(_wildcard(a, action, case=False) for s in allows
                     for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])):
            found.append(entry["call"])
    return sorted(set(found))


def test_every_call_of_up_rename_engine_change_and_down_is_allowed(home, tmp_path, monkeypatch):
    env = home.env("perm", full=True,
                   **{'domain = "sandbox.ngp.test"': 'domain = "perm.ngp.test"'})
    document = json.loads(home.ngp("permissions", "--env", env, check=True).stdout)
    log_path = tmp_path / "calls.jsonl"
    monkeypatch.setenv("NGP_CALL_LOG", str(log_path))
    home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    # A rename: an ECR repository replaced, the agents' pull policy given a new version.
    env_file = home.root / "envs" / f"{env}.toml"
    home.env(env, text=env_file.read_text().replace(
        'repositories = ["app", "web"]', 'repositories = ["app", "www"]'))
    home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    # An engine version change (OpenSearch's in-place upgrade). moto 5.2.5 has no
    # UpgradeDomain (it answers 404), so the run fails there, after ngp made the call.
    home.env(env, text=env_file.read_text().replace(
        "[elk]\n", '[elk]\nengine_version = "OpenSearch_2.13"\n'))
    upgrade = home.ngp("up", "--env", env, "--yes", timeout=600)
    assert upgrade.returncode != 0 and "elk.domain: updating" in upgrade.stdout + upgrade.stderr
    home.ngp("down", "--env", env, "--yes", check=True, timeout=600)
    log = [json.loads(line) for line in log_path.read_text().splitlines()]
    calls = {e["call"] for e in log}
    assert {"iam.CreateRole", "iam.PutRolePolicy", "iam.AttachRolePolicy", "iam.CreatePolicy",
            "iam.CreatePolicyVersion", "opensearch.UpgradeDomain", "iam.DeleteRole"} <= calls
    assert refused(log, document, env) == []


def test_the_check_fails_when_a_kind_leaves_an_action_out():
    """The check can fail: a CreateRole without its boundary, an undeclared action."""
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreateRole"], "Resource": "*",
         "Condition": {"StringEquals": {"iam:PermissionsBoundary": "b"}}},
        {"Effect": "Allow", "Action": ["ec2:DescribeVpcs"], "Resource": "*"}]}
    log = [{"call": "iam.CreateRole", "params": {"RoleName": "r"}},
           {"call": "ec2.CreateVpc", "params": {}},
           {"call": "iam.CreateRole", "params": {"RoleName": "s", "PermissionsBoundary": "b"}},
           {"call": "ec2.DescribeVpcs", "params": {}}]
    assert refused(log, document, "e") == [
        "ec2.CreateVpc", "iam.CreateRole arn:aws:iam::123456789012:role/ngp/e/r {}"]
