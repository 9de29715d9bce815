"""EC2 security groups: each group and its ingress rules, kept as one set."""

from __future__ import annotations

import json
from typing import Any

from ngp.aws import eventually
from ngp.resources.base import (
    Context,
    Field,
    kind,
)
from ngp.resources.ec2 import Ec2Kind, tag_spec


def _rule_key(rule: dict[str, Any]) -> str:
    return json.dumps(rule, sort_keys=True, default=repr)


def _explode(permission: dict[str, Any], group_id: str) -> list[dict[str, Any]]:
    """One AWS IpPermission -> one rule per source, in spec terms."""
    base = {"protocol": permission["IpProtocol"],
            "from_port": permission.get("FromPort", -1), "to_port": permission.get("ToPort", -1)}
    if base["protocol"] == "-1":
        base["from_port"] = base["to_port"] = -1
    rules = []
    for rng in permission.get("IpRanges", []):
        rules.append({**base, "cidr": rng["CidrIp"], "description": rng.get("Description", "")})
    for pair in permission.get("UserIdGroupPairs", []):
        source = {"self": True} if pair["GroupId"] == group_id else {"group": pair["GroupId"]}
        rules.append({**base, **source, "description": pair.get("Description", "")})
    return rules


def _permission(rule: dict[str, Any], group_id: str) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": rule["protocol"]}
    if rule["protocol"] != "-1":
        perm["FromPort"], perm["ToPort"] = rule["from_port"], rule["to_port"]
    desc = {"Description": rule["description"]} if rule.get("description") else {}
    if "cidr" in rule:
        perm["IpRanges"] = [{"CidrIp": rule["cidr"], **desc}]
    else:
        source = group_id if rule.get("self") else rule["group"]
        perm["UserIdGroupPairs"] = [{"GroupId": source, **desc}]
    return perm


@kind
class SecurityGroup(Ec2Kind):
    """A security group and its ingress rules, as data; egress stays AWS's default (all).

    spec: {"name": "ngp-admin-dev", "description": "...", "vpc_id": Ref("network.vpc"),
           "ingress": [{"protocol": "tcp", "from_port": 22, "to_port": 22,
                        "cidr": "203.0.113.0/24", "description": "ssh"},
                       {"protocol": "-1", "from_port": -1, "to_port": -1, "self": true,
                        "description": "members"}]}
    A rule's source is one of cidr, group (another group's id) or self.
    """

    name = "ec2.security_group"
    typical_seconds, typical_delete_seconds = 2.0, 1.0
    actions = ("ec2:DescribeSecurityGroups", "ec2:CreateSecurityGroup", "ec2:CreateTags",
               "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
               "ec2:DeleteSecurityGroup")
    describe, items_key, id_key = "describe_security_groups", "SecurityGroups", "GroupId"
    ids_param = "GroupIds"
    not_found = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.NotFound"})
    resource_type = "security-group"
    fields = (Field("name", replaces=True), Field("description", replaces=True),
              Field("vpc_id", replaces=True), Field("ingress", set=True))

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        # More than order: a rule without a description has AWS's empty one.
        rules = [{"description": "", **rule} for rule in spec.get("ingress", [])]
        return super().canonical({**spec, "ingress": rules})

    def live(self, item: dict[str, Any]) -> dict[str, Any]:
        rules = [rule for perm in item.get("IpPermissions", [])
                 for rule in _explode(perm, item["GroupId"])]
        return self.canonical({"id": item["GroupId"], "name": item["GroupName"],
                               "description": item.get("Description", ""),
                               "vpc_id": item.get("VpcId"), "ingress": rules,
                               "status": "available"})

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ec2 = ctx.aws.client("ec2")
        group = eventually(lambda: ec2.create_security_group(
            GroupName=spec["name"], Description=spec["description"], VpcId=spec["vpc_id"],
            TagSpecifications=tag_spec(self.resource_type, ctx.tags(address, spec["name"]))))
        id = group["GroupId"]
        self._authorize(ctx, id, spec.get("ingress", []))
        return id, {"id": id}

    def _authorize(self, ctx: Context, id: str, rules: list[dict[str, Any]]) -> None:
        if rules:
            perms = [_permission(rule, id) for rule in rules]
            eventually(lambda: ctx.aws.client("ec2").authorize_security_group_ingress(
                GroupId=id, IpPermissions=perms))

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        before = {_rule_key(r): r for r in self.canonical(old).get("ingress", [])}
        after = {_rule_key(r): r for r in self.canonical(new).get("ingress", [])}
        gone = [before[k] for k in sorted(before.keys() - after.keys())]
        if gone:
            ctx.aws.client("ec2").revoke_security_group_ingress(
                GroupId=id, IpPermissions=[_permission(rule, id) for rule in gone])
        self._authorize(ctx, id, [after[k] for k in sorted(after.keys() - before.keys())])
        return {"id": id}

    def delete(self, ctx: Context, id: str) -> None:
        self.delete_call(ctx, ctx.aws.client("ec2").delete_security_group, GroupId=id)
