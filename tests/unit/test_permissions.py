"""Every IAM policy ngp writes, and the one it asks for, passes the parliament linter with no
finding above LOW, and grants nothing broader than it must."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest
from parliament import analyze_policy_string
from parliament import config as parliament_config

from ngp.aws import iam_action
from ngp.config import Project
from ngp.engine import build_desired
from ngp.graph import Graph, Resource, resolve
from ngp.permissions import BOUNDARY, EC2_CREATES, UNSCOPED, actions_of, policy
from ngp.sandbox.policy_eval import _wildcard
from tests.fake_kinds import Quiet

REPO = Path(__file__).resolve().parents[2]
ENVS = ["sandbox", "dev", "stage", "prod"]


def findings_above_low(document: dict) -> list[str]:
    analysed = analyze_policy_string(json.dumps(document))
    return [f"{f.issue}: {f.detail}" for f in analysed.findings
            if parliament_config.get(f.issue, {}).get("severity") not in ("LOW", "INFO")]


def settings_and_graph(env):
    settings = Project(REPO).load(env, {})
    return settings, build_desired(settings).graph


@pytest.mark.parametrize("env", ENVS)
def test_ngp_policy_passes_parliament_and_grants_only_declared_actions(env):
    settings, graph = settings_and_graph(env)
    document = policy(settings, graph)
    assert findings_above_low(document) == []
    # Nothing beyond what the kinds declare (EC2's reads as one wildcard). That every call
    # ngp makes is granted is checked against calls really made, below.
    granted = {a for s in document["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    needed = actions_of(graph)
    assert {g for g in granted if not any(_wildcard(g, a) for a in needed)} == set()


def granted_actions(document: dict) -> list[str]:
    return [a for s in document["Statement"] if s["Effect"] == "Allow"
            for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]


def not_granted(calls: Iterable[str], document: dict) -> set[str]:
    """The calls whose IAM action no Allow statement names (by action, not resource)."""
    allowed = granted_actions(document)
    return {call for call in calls if not call.startswith("sts.")
            and not any(_wildcard(a, iam_action(call), case=False) for a in allowed)}




PINNED = "git+https://github.com/you/ngp@" + "0" * 40
CALLS_ENV = f"""
region = "us-east-1"
allowed_account_ids = ["123456789012"]
modules = ["network", "manager"]
name_suffix = "calls"

[network]
availability_zones = 1
nat = "none"
admin_cidrs = ["203.0.113.0/24"]

[manager]
image_name = "amzn2-ami-hvm-*"
ngp_package = "{PINNED}"
"""


def test_every_call_an_up_a_change_and_a_down_make_is_granted(tmp_path, strict_endpoint):
    """The independent side: the AWS calls a real run makes (network and manager through
    the engine, against the strict sandbox), each of whose IAM actions the policy must
    name. A kind that calls what it does not declare fails here."""
    from ngp import engine
    from tests.conftest import reset_aws

    reset_aws(strict_endpoint)
    (tmp_path / "envs").mkdir()
    env_file = tmp_path / "envs" / "calls.toml"
    env_file.write_text(f'endpoint_url = "{strict_endpoint}"\n{CALLS_ENV}')
    project = Project(tmp_path)
    calls: set[str] = set()

    def run(destroy: bool = False) -> None:
        with engine.open_run(project, "calls", "up", Quiet()) as opened:
            engine.check(engine.apply(opened, engine.plan(opened, destroy=destroy)))
            calls.update(opened.aws.calls)

    run()
    env_file.write_text(env_file.read_text().replace(
        'admin_cidrs = ["203.0.113.0/24"]', 'admin_cidrs = ["198.51.100.0/24"]'))
    run()
    run(destroy=True)
    # The run's own kinds of calls: creates, tag reads, updates and deletes of each family.
    assert {"ec2.CreateVpc", "ec2.RunInstances", "iam.CreateRole", "iam.PutRolePolicy",
            "ec2.AuthorizeSecurityGroupIngress", "ec2.TerminateInstances",
            "iam.DeleteRole"} <= calls
    settings = project.load("calls", {})
    document = policy(settings, build_desired(settings).graph)
    assert not_granted(calls, document) == set()


def test_the_call_check_fails_on_a_call_the_policy_does_not_name():
    document = {"Statement": [
        {"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:CreateVpc"], "Resource": "*"},
        {"Effect": "Deny", "Action": ["ec2:DeleteVpc"], "Resource": "*"}]}
    calls = ["ec2.DescribeVpcs", "ec2.CreateVpc", "ec2.DeleteVpc", "elb.CreateLoadBalancer",
             "sts.GetCallerIdentity"]
    assert not_granted(calls, document) == {"ec2.DeleteVpc", "elb.CreateLoadBalancer"}


def test_one_vpc_gets_these_statements_written_by_hand():
    """The policy for a graph of one VPC, as written out from the VPC's API reference."""
    settings = Project(REPO).load("dev", {})
    graph = Graph.of([Resource("network.vpc", "ec2.vpc", {"name": "v", "cidr": "10.0.0.0/16"})])
    by_sid = {s["Sid"]: s for s in policy(settings, graph)["Statement"]}
    assert {sid: s["Action"] for sid, s in by_sid.items()} == {
        "ReadEc2": ["ec2:Describe*"],
        "CreateEc2": ["ec2:CreateVpc"],
        "TagEc2AtCreation": ["ec2:CreateTags"],
        "ChangeOwnEc2": ["ec2:DeleteVpc", "ec2:ModifyVpcAttribute"]}


def assert_narrow(statement):
    """No action is "*", and "*" as the resource only for actions AWS cannot scope."""
    if statement["Effect"] == "Deny":
        return
    actions = statement["Action"] if isinstance(statement["Action"], list) \
        else [statement["Action"]]
    assert "*" not in actions
    if statement["Resource"] == "*" and "Condition" not in statement:
        for action in actions:
            name = action.split(":")[1]
            assert name.startswith("Describe") or action in UNSCOPED or name in EC2_CREATES, \
                action


@pytest.mark.parametrize("env", ENVS)
def test_nothing_is_granted_on_everything_that_could_be_narrower(env):
    settings, graph = settings_and_graph(env)
    for statement in policy(settings, graph)["Statement"]:
        assert_narrow(statement)


def test_changes_are_scoped_to_the_env():
    settings, graph = settings_and_graph("prod")
    by_sid = {s["Sid"]: s for s in policy(settings, graph)["Statement"]}
    assert by_sid["ChangeOwnEc2"]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/ngp:env": "prod"}}
    assert by_sid["OwnIam"]["Resource"] == [
        "arn:aws:iam::333333333333:role/ngp/prod/*",
        "arn:aws:iam::333333333333:instance-profile/ngp/prod/*",
        "arn:aws:iam::333333333333:policy/ngp/prod/*"]
    assert "iam:PassRole" in by_sid["OwnIam"]["Action"]


@pytest.mark.parametrize("env", ENVS)
def test_every_policy_ngp_writes_passes_parliament(env):
    settings, graph = settings_and_graph(env)
    arns = {"ecr.repository": "arn:aws:ecr:us-east-1:123456789012:repository/ngp-x/app",
            "secretsmanager.secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
                                     "ngp-x-AbCdEf"}

    def fake(ref):  # an ARN of the referenced object's sort
        return arns[graph.resources[ref.address].kind]

    documents = [(r, name, document) for r in graph.resources.values() if r.kind == "iam.role"
                 for name, document in r.spec["policies"].items()]
    documents += [(r, "managed", r.spec["document"]) for r in graph.resources.values()
                  if r.kind == "iam.policy"]
    assert documents
    for owner, name, document in documents:
        resolved = resolve(document, fake)
        assert findings_above_low(resolved) == [], f"{owner.address}: {name}"
        if owner.address == BOUNDARY:  # a boundary grants nothing: it caps the env's roles
            continue
        for statement in resolved["Statement"]:
            assert_narrow(statement)


@pytest.mark.parametrize("env", ENVS)
def test_ngp_policy_allows_its_buckets_by_their_names(env):
    from fnmatch import fnmatchcase

    settings, graph = settings_and_graph(env)
    own = next(s for s in policy(settings, graph)["Statement"] if s["Sid"] == "OwnBuckets")
    buckets = [r.spec["name"] for r in graph.resources.values() if r.kind == "s3.bucket"]
    assert buckets
    for name in buckets:
        assert any(fnmatchcase(f"arn:aws:s3:::{name}", r) for r in own["Resource"]), name
        assert any(fnmatchcase(f"arn:aws:s3:::{name}/snapshots/x", r) for r in own["Resource"])


@pytest.mark.parametrize("env", ENVS)
def test_policies_fit_awss_size_limits(env):
    """A managed policy (the boundary) holds 6,144 characters, a role's inline policies
    10,240 in all, whitespace not counted:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"""
    settings, graph = settings_and_graph(env)

    def size(document):
        return len(json.dumps(document, separators=(",", ":"), default=str))

    for res in graph.resources.values():
        if res.kind == "iam.policy":
            assert size(res.spec["document"]) <= 6144, res.address
        elif res.kind == "iam.role":
            assert size(res.spec["policies"]) <= 10240, res.address
