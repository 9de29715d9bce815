"""`ngp permissions` cannot be turned into administrator rights: evaluated as IAM evaluates
it (ngp/sandbox/policy_eval.py), the ways a holder of the policy would widen itself are denied,
and what ngp itself does is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ngp.config import Project
from ngp.engine import build_desired
from ngp.permissions import BOUNDARY, boundary_arn, policy
from ngp.sandbox.policy_eval import ALLOWED, EXPLICIT_DENY, Request, decide

REPO = Path(__file__).resolve().parents[2]
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ADMIN_DOCUMENT = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@pytest.fixture(scope="module")
def env():
    settings = Project(REPO).load("sandbox", {})
    graph = build_desired(settings).graph
    return settings, graph


def role(name):
    return f"arn:aws:iam::123456789012:role/ngp/sandbox/{name}"


def ask(document, action, resource, boundary=None, **context):
    keys = {f"iam:{k}": v for k, v in context.items()}
    return decide([document], Request(action, resource, keys), boundary)


def test_the_cli_policy_makes_roles_only_with_the_boundary(env):
    settings, graph = env
    ci = policy(settings, graph)
    bound = boundary_arn(settings)
    assert ask(ci, "iam:CreateRole", role("evil")) != ALLOWED  # no boundary
    assert ask(ci, "iam:CreateRole", role("evil"),
               PermissionsBoundary="arn:aws:iam::123456789012:policy/ngp/sandbox/other") \
        != ALLOWED
    assert ask(ci, "iam:CreateRole", role("ngp-openvpn-sandbox"),
               PermissionsBoundary=bound) == ALLOWED
    # An inline admin policy on a role without the boundary (one made before it) is refused.
    assert ask(ci, "iam:PutRolePolicy", role("old")) != ALLOWED
    assert ask(ci, "iam:PutRolePolicy", role("ngp-openvpn-sandbox"),
               PermissionsBoundary=bound) == ALLOWED


def test_only_the_envs_own_policies_can_be_attached(env):
    settings, graph = env
    ci = policy(settings, graph)
    bound = boundary_arn(settings)
    registry = "arn:aws:iam::123456789012:policy/ngp/sandbox/ngp-registry-access-sandbox"
    agents = role("ngp-dcos-agent-sandbox")
    assert ask(ci, "iam:AttachRolePolicy", agents, PermissionsBoundary=bound,
               PolicyARN=ADMIN) != ALLOWED
    assert ask(ci, "iam:AttachRolePolicy", agents, PermissionsBoundary=bound,
               PolicyARN=bound) == EXPLICIT_DENY  # the boundary is never a grant
    assert ask(ci, "iam:AttachRolePolicy", agents, PermissionsBoundary=bound,
               PolicyARN=registry) == ALLOWED
    assert ask(ci, "iam:AttachRolePolicy", role("old"), PolicyARN=registry) != ALLOWED


def test_the_boundary_is_never_edited_nor_removed(env):
    settings, graph = env
    ci = policy(settings, graph)
    bound = boundary_arn(settings)
    for action in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion",
                   "iam:DeletePolicyVersion"):
        assert ask(ci, action, bound) == EXPLICIT_DENY, action
    assert ask(ci, "iam:CreatePolicyVersion",
               "arn:aws:iam::123456789012:policy/ngp/sandbox/ngp-registry-access-sandbox") \
        == ALLOWED
    assert ask(ci, "iam:DeleteRolePermissionsBoundary", role("ngp-manager-sandbox"),
               PermissionsBoundary=bound) == EXPLICIT_DENY
    assert ask(ci, "iam:PutRolePermissionsBoundary", role("ngp-manager-sandbox"),
               PermissionsBoundary=ADMIN) == EXPLICIT_DENY
    assert ask(ci, "iam:PutRolePermissionsBoundary", role("old"),
               PermissionsBoundary=bound) == ALLOWED  # what ngp does to an older role


def test_the_manager_cannot_widen_its_own_role(env):
    settings, graph = env
    manager = graph.resources["manager.role"].spec["policies"]["ngp"]
    bound = boundary_arn(settings)
    own = role("ngp-manager-sandbox")
    for action in ("iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRolePolicy",
                   "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
                   "iam:UpdateAssumeRolePolicy"):
        assert ask(manager, action, own, PermissionsBoundary=bound,
                   PolicyARN=ADMIN) == EXPLICIT_DENY, action
    profile = "arn:aws:iam::123456789012:instance-profile/ngp/sandbox/ngp-manager-sandbox"
    assert ask(manager, "iam:AddRoleToInstanceProfile", profile) == EXPLICIT_DENY
    # It still runs ngp for the env: another role of the env may be changed, with the boundary.
    assert ask(manager, "iam:PutRolePolicy", role("ngp-openvpn-sandbox"),
               PermissionsBoundary=bound) == ALLOWED


def test_a_bounded_role_with_an_admin_policy_is_still_not_an_admin(env):
    """Whatever a holder puts on a role of the env, the boundary caps it."""
    settings, graph = env
    boundary = graph.resources[BOUNDARY].spec["document"]
    bound = boundary_arn(settings)
    assert decide([ADMIN_DOCUMENT], Request("iam:CreateUser", "arn:aws:iam::123456789012:"
                                            "user/evil"), boundary) != ALLOWED
    assert decide([ADMIN_DOCUMENT], Request("iam:CreateRole", role("evil")), boundary) \
        == EXPLICIT_DENY
    assert decide([ADMIN_DOCUMENT], Request(
        "iam:AttachRolePolicy", role("evil"),
        {"iam:PermissionsBoundary": bound, "iam:PolicyARN": ADMIN}), boundary) == EXPLICIT_DENY
    assert decide([ADMIN_DOCUMENT], Request("iam:CreatePolicyVersion", bound), boundary) \
        == EXPLICIT_DENY
    assert decide([ADMIN_DOCUMENT], Request("organizations:LeaveOrganization", "*"),
                  boundary) != ALLOWED


def test_service_linked_roles_only_for_the_services_ngp_uses(env):
    settings, graph = env
    ci = policy(settings, graph)
    linked = "arn:aws:iam::123456789012:role/aws-service-role/{}/AWSServiceRoleFor"
    for service in ("autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com",
                    "opensearchservice.amazonaws.com"):
        assert ask(ci, "iam:CreateServiceLinkedRole", linked.format(service),
                   AWSServiceName=service) == ALLOWED, service
    assert ask(ci, "iam:CreateServiceLinkedRole", linked.format("rds.amazonaws.com"),
               AWSServiceName="rds.amazonaws.com") != ALLOWED


def test_every_role_ngp_makes_carries_the_boundary():
    for env in ("sandbox", "dev", "prod"):
        settings = Project(REPO).load(env, {})
        graph = build_desired(settings).graph
        roles = [r for r in graph.resources.values() if r.kind == "iam.role"]
        assert roles
        for res in roles:
            assert res.spec["boundary"].address == BOUNDARY, res.address
