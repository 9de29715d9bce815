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
"""

from __future__ import annotations

from typing import Any

from ngp.config import Settings
from ngp.graph import Graph
from ngp.resources import get_kind

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


def _is_read(action: str) -> bool:
    return ":Describe" in action or action in UNSCOPED


def actions_of(graph: Graph) -> set[str]:
    return {action for res in graph.resources.values()
            for action in get_kind(res.kind).actions}


def policy(settings: Settings, graph: Graph) -> dict[str, Any]:
    """The policy document, as JSON-ready data."""
    actions = actions_of(graph)
    account = settings.account
    region, env = settings.core.region, settings.env
    by_service: dict[str, list[str]] = {}
    for action in sorted(actions):
        by_service.setdefault(action.split(":")[0], []).append(action)

    statements: list[dict[str, Any]] = []

    def add(sid: str, chosen: list[str], resource: Any, condition: dict | None = None) -> None:
        if chosen:
            statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow",
                                         "Action": sorted(set(chosen)), "Resource": resource}
            if condition:
                statement["Condition"] = condition
            statements.append(statement)

    ec2 = by_service.get("ec2", [])
    ec2_name = [a.split(":")[1] for a in ec2]
    add("ReadEc2", [a for a, n in zip(ec2, ec2_name, strict=True) if n.startswith("Describe")],
        "*")
    add("CreateEc2", [a for a, n in zip(ec2, ec2_name, strict=True) if n in EC2_CREATES], "*")
    add("TagEc2AtCreation", ["ec2:CreateTags"] if "ec2:CreateTags" in ec2 else [], "*",
        {"StringEquals": {"aws:RequestTag/ngp:env": env}})
    add("ChangeOwnEc2", [a for a, n in zip(ec2, ec2_name, strict=True)
                         if not n.startswith("Describe") and n not in (*EC2_CREATES, "CreateTags")],
        f"arn:aws:ec2:{region}:{account}:*",
        {"StringEquals": {"aws:ResourceTag/ngp:env": env}})

    iam = [a for a in by_service.get("iam", []) if a not in UNSCOPED]
    add("ReadIam", [a for a in by_service.get("iam", []) if a in UNSCOPED], "*")
    add("OwnIam", iam, [f"arn:aws:iam::{account}:role/ngp/{env}/*",
                        f"arn:aws:iam::{account}:instance-profile/ngp/{env}/*",
                        f"arn:aws:iam::{account}:policy/ngp/{env}/*"])

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

    covered = {a for s in statements for a in s["Action"]}
    if actions - covered:  # a kind of a service this file does not know yet
        add("Other", sorted(actions - covered), "*")
    return {"Version": "2012-10-17", "Statement": statements}
