"""The least-privilege IAM policy that running ngp for one env needs.

It is made from the actions every kind in the env's graph declares, scoped to the env's own
objects where AWS allows it:
- EC2 changes to existing objects only on objects tagged `ngp:env = <env>`; reads (Describe*)
  cannot be scoped, nor can creates, whose requests also name objects ngp does not own (an
  image, an adopted VPC);
- IAM only on roles and instance profiles under the env's path `/ngp/<env>/`;
- Secrets Manager only on secrets named with the env's prefix and suffix; S3 buckets, classic
  load balancers, auto-scaling groups, ECR repositories, OpenSearch domains, Lambda functions,
  EventBridge rules and log groups likewise; API Gateway on REST APIs;
- Route53 only on hosted zones and their record sets.

Roles are where a policy that may make roles turns into administrator rights: whoever may
create a role, put an inline policy on it or attach a managed policy to it, and pass it to an
instance, can give that instance any right. So every role ngp makes carries the env's
permissions boundary (`<prefix>-boundary-<suffix>`, an iam.policy ngp makes under the env's
path), which caps what any role of the env can ever do and denies IAM changes that would lift
the cap; and the policy allows CreateRole, PutRolePolicy, AttachRolePolicy and
PutRolePermissionsBoundary only with that boundary, AttachRolePolicy only for the env's own
policies, never DeleteRolePermissionsBoundary, and never a change to the boundary itself. This is
AWS's pattern for delegating role creation:
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
("Delegating responsibility to others using permissions boundaries"); the condition keys are
those the Service Authorization Reference lists per action:
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
(iam:PermissionsBoundary on CreateRole, PutRolePolicy, AttachRolePolicy, DeleteRolePolicy,
DetachRolePolicy and the two boundary actions; iam:PolicyARN on Attach/DetachRolePolicy;
iam:AWSServiceName on CreateServiceLinkedRole).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ngp.graph import Graph, Ref, Resource
from ngp.resources import get_kind
from ngp.resources.iam import env_path

if TYPE_CHECKING:
    from ngp.config import Settings

BOUNDARY = "permissions.boundary"  # the address of the env's permissions boundary
# Role changes ngp makes that AWS lets a policy tie to the role's boundary.
BOUNDED_ROLE_ACTIONS = ("iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary")
# What would change the boundary's own document: nobody holding ngp's policy may.
BOUNDARY_EDITS = ("iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
                  "iam:SetDefaultPolicyVersion")
# What would change a role's rights: the manager may not do it to its own role.
OWN_ROLE_CHANGES = ("iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
                    "iam:DeleteRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy",
                    "iam:DeleteRole")
OWN_PROFILE_CHANGES = ("iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
                       "iam:DeleteInstanceProfile")

# EC2 actions that make a new (tagged) object; their requests also name objects ngp does
# not own, so they cannot be scoped by tag.
EC2_CREATES = ("CreateVpc", "CreateSubnet", "CreateInternetGateway", "AllocateAddress",
               "CreateNatGateway", "CreateRouteTable", "CreateSecurityGroup", "ImportKeyPair",
               "RunInstances")
UNSCOPED = {  # actions AWS does not scope to a resource
    "iam:GetAccountAuthorizationDetails", "iam:ListInstanceProfiles",
    "secretsmanager:ListSecrets", "route53:ListHostedZonesByName", "s3:ListAllMyBuckets",
    "es:ListDomainNames", "lambda:ListFunctions", "events:ListRules", "logs:DescribeLogGroups",
    "ecr:GetAuthorizationToken",
}


def boundary_arn(settings: Settings) -> str:
    return (f"arn:aws:iam::{settings.account}:policy{env_path(settings.env)}"
            f"{settings.name('boundary')}")


def env_policies_arn(settings: Settings) -> str:
    """The env's own managed policies (the only ones ngp may attach to a role)."""
    return f"arn:aws:iam::{settings.account}:policy{env_path(settings.env)}*"


def role_arn(settings: Settings, name: str) -> str:
    return f"arn:aws:iam::{settings.account}:role{env_path(settings.env)}{name}"


def _statement_actions(document: dict[str, Any]) -> set[str]:
    statements = document.get("Statement", [])
    found: set[str] = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") == "Allow":
            actions = statement.get("Action", [])
            found.update([actions] if isinstance(actions, str) else actions)
    return found


def _compact(actions: set[str]) -> list[str]:
    """The actions, with each service's reads as Describe*/Get*/List* (a boundary must fit
    AWS's 6,144 characters for a managed policy, and grants nothing by itself)."""
    out = set()
    for action in actions:
        service, name = action.split(":", 1)
        verb = next((v for v in ("Describe", "Get", "List") if name.startswith(v)), None)
        out.add(f"{service}:{verb}*" if verb else action)
    return sorted(out)


def boundary_document(settings: Settings, resources: list[Resource]) -> dict[str, Any]:
    """The env's permissions boundary: what any of its roles may ever do (the actions of its
    roles' policies and the env's managed policies), and no IAM change that would lift it."""
    boundary = boundary_arn(settings)
    allowed: set[str] = set()
    for res in resources:
        if res.kind == "iam.role":
            for document in res.spec.get("policies", {}).values():
                allowed |= _statement_actions(document)
        elif res.kind == "iam.policy" and res.address != BOUNDARY:
            allowed |= _statement_actions(res.spec["document"])
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "WhatTheEnvsRolesMayDo", "Effect": "Allow", "Action": _compact(allowed),
         "Resource": "*"},
        # A role of the env makes roles (the manager's does) only as ngp's policy does: with
        # this boundary, attaching only the env's policies, and never this one as a grant.
        {"Sid": "NoRoleWithoutTheBoundary", "Effect": "Deny",
         "Action": [*BOUNDED_ROLE_ACTIONS, "iam:AttachRolePolicy"], "Resource": "*",
         "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": boundary}}},
        {"Sid": "AttachOnlyTheEnvsPolicies", "Effect": "Deny", "Action": "iam:AttachRolePolicy",
         "Resource": "*",
         "Condition": {"ArnNotLike": {"iam:PolicyARN": env_policies_arn(settings)}}},
        {"Sid": "TheBoundaryGrantsNothing", "Effect": "Deny", "Action": "iam:AttachRolePolicy",
         "Resource": "*", "Condition": {"ArnEquals": {"iam:PolicyARN": boundary}}},
        {"Sid": "TheBoundaryStays", "Effect": "Deny",
         "Action": "iam:DeleteRolePermissionsBoundary", "Resource": "*"},
        {"Sid": "TheBoundaryIsFixed", "Effect": "Deny",
         "Action": [*BOUNDARY_EDITS, "iam:DeletePolicy"], "Resource": boundary},
    ]}


def with_boundary(settings: Settings, resources: list[Resource]) -> list[Resource]:
    """The resources, every role given the env's boundary, and the boundary (if any role)."""
    if not any(r.kind == "iam.role" for r in resources):
        return resources
    bounded = [replace(r, spec={**r.spec, "boundary": Ref(BOUNDARY, "arn")})
               if r.kind == "iam.role" else r for r in resources]
    return [*bounded, Resource(BOUNDARY, "iam.policy", {
        "name": settings.name("boundary"), "path": env_path(settings.env),
        "description": f"ngp {settings.env}: the most any role of the env may do",
        "document": boundary_document(settings, resources)}, module="permissions")]


def _is_read(action: str) -> bool:
    return ":Describe" in action or action in UNSCOPED


def actions_of(graph: Graph) -> set[str]:
    return {action for res in graph.resources.values()
            for action in get_kind(res.kind).actions}


def policy(settings: Settings, graph: Graph, *, holder_role: str | None = None,
           ) -> dict[str, Any]:
    """The policy document, as JSON-ready data. holder_role: the name of the env's role that
    will carry it (the manager's), which may then change nothing of its own role."""
    actions = actions_of(graph)
    account = settings.account
    region, env = settings.core.region, settings.env
    by_service: dict[str, list[str]] = {}
    for action in sorted(actions):
        by_service.setdefault(action.split(":")[0], []).append(action)

    statements: list[dict[str, Any]] = []

    def add(sid: str, chosen: list[str], resource: Any, condition: dict | None = None,
            effect: str = "Allow") -> None:
        if chosen:
            statement: dict[str, Any] = {"Sid": sid, "Effect": effect,
                                         "Action": sorted(set(chosen)), "Resource": resource}
            if condition:
                statement["Condition"] = condition
            statements.append(statement)

    ec2 = by_service.get("ec2", [])
    ec2_name = [a.split(":")[1] for a in ec2]
    # EC2's reads as one wildcard: the manager's role holds this policy inline, where AWS
    # allows 10,240 characters in all.
    add("ReadEc2", ["ec2:Describe*"] if any(n.startswith("Describe") for n in ec2_name) else [],
        "*")
    add("CreateEc2", [a for a, n in zip(ec2, ec2_name, strict=True) if n in EC2_CREATES], "*")
    # Tags for the env, on an object being made, made by hand (an import), or the env's own:
    # never another env's, which retagged would then be this env's to change. IfExists holds
    # where the key is absent (a new or untagged object): https://docs.aws.amazon.com/IAM/
    # latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists
    add("TagEc2AtCreation", ["ec2:CreateTags"] if "ec2:CreateTags" in ec2 else [], "*",
        {"StringEquals": {"aws:RequestTag/ngp:env": env},
         "StringEqualsIfExists": {"aws:ResourceTag/ngp:env": env}})
    add("ChangeOwnEc2", [a for a, n in zip(ec2, ec2_name, strict=True)
                         if not n.startswith("Describe") and n not in (*EC2_CREATES, "CreateTags")],
        f"arn:aws:ec2:{region}:{account}:*",
        {"StringEquals": {"aws:ResourceTag/ngp:env": env}})

    iam = by_service.get("iam", [])
    roles = f"arn:aws:iam::{account}:role/ngp/{env}/*"
    boundary = {"StringEquals": {"iam:PermissionsBoundary": boundary_arn(settings)}}
    add("ReadIam", [a for a in iam if a in UNSCOPED], "*")
    bounded = {*BOUNDED_ROLE_ACTIONS, "iam:AttachRolePolicy", "iam:CreateServiceLinkedRole"}
    add("OwnIam", [a for a in iam if a not in UNSCOPED and a not in bounded],
        [roles, f"arn:aws:iam::{account}:instance-profile/ngp/{env}/*",
         f"arn:aws:iam::{account}:policy/ngp/{env}/*"])
    # Roles only with the env's boundary, and only the env's own policies attached to them.
    add("RolesOnlyWithTheBoundary", [a for a in iam if a in BOUNDED_ROLE_ACTIONS], roles,
        boundary)
    add("AttachOnlyTheEnvsPolicies", [a for a in iam if a == "iam:AttachRolePolicy"], roles,
        {**boundary, "ArnLike": {"iam:PolicyARN": env_policies_arn(settings)}})
    # The service-linked roles AWS makes on a first create (Auto Scaling's, ELB's,
    # OpenSearch's), and no other: https://docs.aws.amazon.com/IAM/latest/UserGuide/
    # using-service-linked-roles.html#service-linked-role-permissions
    linked = sorted({kind.linked_service for res in graph.resources.values()
                     if (kind := get_kind(res.kind)).linked_service})
    add("ServiceLinkedRoles", ["iam:CreateServiceLinkedRole"] if linked else [],
        [f"arn:aws:iam::{account}:role/aws-service-role/{service}/*" for service in linked],
        {"StringEquals": {"iam:AWSServiceName": linked}})
    if "iam:CreateRole" in iam:
        # Explicit denies, so no other policy of the holder's lifts them: the boundary is
        # never edited (a new version could allow anything), never removed from a role, and
        # never attached as a grant.
        add("TheBoundaryIsFixed", list(BOUNDARY_EDITS), boundary_arn(settings), effect="Deny")
        add("TheBoundaryStays", ["iam:DeleteRolePermissionsBoundary"], "*", effect="Deny")
        add("BoundaryOnlyTheEnvs", ["iam:PutRolePermissionsBoundary"], "*",
            {"StringNotEquals": boundary["StringEquals"]}, effect="Deny")
        add("TheBoundaryGrantsNothing", ["iam:AttachRolePolicy"], "*",
            {"ArnEquals": {"iam:PolicyARN": boundary_arn(settings)}}, effect="Deny")
    if holder_role:  # the manager cannot widen its own role, nor swap its profile's role
        add("NotItsOwnRole", list(OWN_ROLE_CHANGES), role_arn(settings, holder_role),
            effect="Deny")
        add("NotItsOwnProfile", list(OWN_PROFILE_CHANGES),
            f"arn:aws:iam::{account}:instance-profile/ngp/{env}/{holder_role}", effect="Deny")

    secrets = by_service.get("secretsmanager", [])
    add("ListSecrets", [a for a in secrets if a in UNSCOPED], "*")
    add("OwnSecrets", [a for a in secrets if a not in UNSCOPED],
        f"arn:aws:secretsmanager:{region}:{account}:secret:{settings.name('*')}-*")

    storage = by_service.get("s3", [])
    add("ListBuckets", [a for a in storage if a in UNSCOPED], "*")
    add("OwnBuckets", [a for a in storage if a not in UNSCOPED],
        [f"arn:aws:s3:::{settings.bucket_name('*')}",
         f"arn:aws:s3:::{settings.bucket_name('*')}/*"])

    # Services whose objects carry the env's names (prefix-*-suffix): reads and listings on
    # "*", the rest on those names.
    own = settings.name("*")
    named = {
        "elasticloadbalancing": [f"arn:aws:elasticloadbalancing:{region}:{account}:"
                                 f"loadbalancer/{own}"],
        "autoscaling": [f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:"
                        f"autoScalingGroupName/{own}"],
        "ecr": [f"arn:aws:ecr:{region}:{account}:repository/{settings.name()}/*"],
        # Tagging also names OpenSearch's newer types; none of those is made by ngp.
        "es": [f"arn:aws:es:{region}:{account}:domain/{own}",
               f"arn:aws:opensearch:{region}:{account}:application/{own}",
               f"arn:aws:opensearch:{region}:{account}:datasource/{own}"],
        "lambda": [f"arn:aws:lambda:{region}:{account}:function:{own}"],
        "events": [f"arn:aws:events:{region}:{account}:rule/{own}"],
        "logs": [f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{own}",
                 f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{own}:*"],
        # API Gateway's actions are verbs on its paths; REST APIs have no names to scope by.
        "apigateway": [f"arn:aws:apigateway:{region}::/restapis",
                       f"arn:aws:apigateway:{region}::/restapis/*",
                       f"arn:aws:apigateway:{region}::/tags/*"],
    }
    for service, arns in named.items():
        chosen = by_service.get(service, [])
        title = service.capitalize()
        add(f"Read{title}", [a for a in chosen if _is_read(a)], "*")
        add(f"Own{title}", [a for a in chosen if not _is_read(a)], arns)

    dns = by_service.get("route53", [])
    add("FindZones", [a for a in dns if a in UNSCOPED], "*")
    add("ZoneRecords", [a for a in dns if a not in UNSCOPED], "arn:aws:route53:::hostedzone/*")

    covered = {a for s in statements if s["Effect"] == "Allow" for a in s["Action"]}
    covered |= {a for a in actions if a.startswith("ec2:Describe")}
    if actions - covered:  # a kind of a service this file does not know yet
        add("Other", sorted(actions - covered), "*")
    return {"Version": "2012-10-17", "Statement": statements}
