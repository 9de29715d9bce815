"""Every IAM policy ngp writes, and the one it asks for, passes the parliament linter with no
finding above LOW, and grants nothing broader than it must."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parliament import analyze_policy_string
from parliament import config as parliament_config

from ngp.config import Project
from ngp.engine import build_desired
from ngp.graph import resolve
from ngp.permissions import BOUNDARY, EC2_CREATES, UNSCOPED, actions_of, policy
from ngp.sandbox.policy_eval import _wildcard

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
def test_ngp_policy_passes_parliament_and_covers_every_kind(env):
    settings, graph = settings_and_graph(env)
    document = policy(settings, graph)
    assert findings_above_low(document) == []
    granted = {a for s in document["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    needed = actions_of(graph)
    # Every declared action is granted, and nothing else (EC2's reads as one wildcard).
    assert {a for a in needed if not any(_wildcard(g, a) for g in granted)} == set()
    assert {g for g in granted if not any(_wildcard(g, a) for a in needed)} == set()


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
