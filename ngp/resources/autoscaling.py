"""Auto-scaling groups: a group's size changes in place, never by replacement."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import eventually, wait_until
from ngp.resources.base import (
    NAMED,
    TAG_ADDRESS,
    TAG_ENV,
    Context,
    Field,
    Health,
    Importable,
    Kind,
    Owned,
    Registers,
    Verdict,
    Wanted,
    check_owned,
    kind,
    tags_dict,
    with_owner_tags,
)
from ngp.resources.ec2_compute import INSTALL_TAG, install_failure, profile_not_yet

DELETE_TIMEOUT = 900.0  # a group's instances must terminate first
# A new instance profile in the group's launch template is not seen by Auto Scaling for a few
# seconds (ValidationError "... Invalid IAM Instance Profile name"): retried this long, as
# terraform-provider-aws does (autoscaling group create, propagationTimeout 2 min).
PROFILE_DEADLINE = 120.0


def _gone(exc: ClientError) -> bool:
    return "not found" in str(exc).lower()


def _group_tags(name: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    """A group's tags, each given to the machines it launches but ngp:address (a machine is
    not the group's address)."""
    return [{"Key": k, "Value": v, "PropagateAtLaunch": k != TAG_ADDRESS, "ResourceId": name,
             "ResourceType": "auto-scaling-group"} for k, v in tags.items()]


@kind
class Group(Health, Importable, Registers, Owned, Kind):
    """An auto-scaling group of machines from a launch template, in the given subnets,
    optionally registered with classic load balancers.

    spec: {"name": "ngp-private-agents-dev", "launch_template_id": Ref("dcos.agent_template"),
           "launch_template_version": Ref("dcos.agent_template", "latest_version"),
           "min_size": 3, "max_size": 3, "desired_capacity": 3,
           "subnet_ids": [Ref("network.subnet.private[a]"), ...],
           "load_balancer_names": [], "health_check_type": "EC2",
           "health_check_grace_period": 300}
    """

    name = "autoscaling.group"
    typical_seconds, typical_delete_seconds = 90.0, 120.0
    service = "autoscaling"
    actions = ("autoscaling:DescribeAutoScalingGroups", "autoscaling:CreateAutoScalingGroup",
               "autoscaling:CreateOrUpdateTags", "autoscaling:UpdateAutoScalingGroup",
               "autoscaling:AttachLoadBalancers", "autoscaling:DetachLoadBalancers",
               "autoscaling:DeleteAutoScalingGroup", "ec2:RunInstances", "iam:PassRole",
               "iam:CreateServiceLinkedRole", "ec2:DescribeInstances")
    # AWS makes the service-linked role on the first create in an account:
    # https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html
    linked_service = "autoscaling.amazonaws.com"
    fields = (Field("name", replaces=True), Field("launch_template_id"),
              Field("launch_template_version"), Field("min_size"), Field("max_size"),
              Field("desired_capacity"), Field("subnet_ids", set=True),
              Field("load_balancer_names", set=True), Field("health_check_type"),
              Field("health_check_grace_period"))
    outputs = ("id", "name", "arn")
    echoes = NAMED

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        # More than order: AWS answers the template's version as text.
        out = super().canonical(spec)
        if isinstance(spec.get("launch_template_version"), int):
            out["launch_template_version"] = str(spec["launch_template_version"])
        return out

    def _live(self, group: dict[str, Any]) -> dict[str, Any] | None:
        if group.get("Status") == "Delete in progress":
            return None
        template = group.get("LaunchTemplate") or {}
        subnets = [s for s in group.get("VPCZoneIdentifier", "").split(",") if s]
        return with_owner_tags(self.canonical({
            "id": group["AutoScalingGroupName"], "name": group["AutoScalingGroupName"],
            "arn": group["AutoScalingGroupARN"],
            "launch_template_id": template.get("LaunchTemplateId"),
            "launch_template_version": str(template.get("Version")),
            "min_size": group["MinSize"], "max_size": group["MaxSize"],
            "desired_capacity": group["DesiredCapacity"], "subnet_ids": subnets,
            "load_balancer_names": group.get("LoadBalancerNames", []),
            "health_check_type": group.get("HealthCheckType"),
            "health_check_grace_period": group.get("HealthCheckGracePeriod"),
            "instances": len(group.get("Instances", [])),
            "in_service": sum(1 for i in group.get("Instances", [])
                              if i.get("LifecycleState") == "InService"),
            "status": f"{len(group.get('Instances', []))}/{group['DesiredCapacity']} instances",
        }), group.get("Tags", []))

    def _describe(self, ctx: Context, **params: Any) -> list[dict[str, Any]]:
        pages = ctx.aws.client("autoscaling").get_paginator(
            "describe_auto_scaling_groups").paginate(**params)
        return [g for page in pages for g in page["AutoScalingGroups"]]

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        groups = self._describe(ctx, Filters=[{"Name": f"tag:{TAG_ENV}", "Values": [ctx.env]}])
        return {g["AutoScalingGroupName"]: live for g in groups
                if g["AutoScalingGroupName"] in ids and (live := self._live(g))}

    def list_owned(self, ctx: Context) -> dict[str, dict[str, Any]]:
        # DescribeAutoScalingGroups takes a `tag:<key>` filter and answers each group's Tags
        # (docs.aws.amazon.com/autoscaling/ec2/APIReference/API_Filter.html): one call.
        groups = self._describe(ctx, Filters=[{"Name": f"tag:{TAG_ENV}", "Values": [ctx.env]}])
        return {g["AutoScalingGroupName"]: {**live, "tags": tags_dict(g.get("Tags"))}
                for g in groups if (live := self._live(g))}

    def registered(self, spec: dict[str, Any]) -> dict[str, int]:
        return {name: spec.get("desired_capacity", 0)
                for name in spec.get("load_balancer_names") or []}

    def health(self, ctx: Context, id: str, wanted: Wanted) -> Verdict:
        """For `ngp status`: its instances in service against the desired capacity of its
        spec (a group AWS has at 0 of 0 while its spec wants 3 is 0/3, not healthy), and the
        machines whose boot script reported a failed install (their ngp:install tag), in one
        call."""
        want = wanted.spec.get("desired_capacity", 0)
        serving = wanted.live.get("in_service", 0)
        status = f"{serving}/{want} in service"
        if wanted.live.get("desired_capacity") != want:
            status += f", desired {wanted.live.get('desired_capacity')} on AWS"
        pages = ctx.aws.client("ec2").get_paginator("describe_instances").paginate(Filters=[
            {"Name": "tag:aws:autoscaling:groupName", "Values": [id]},
            {"Name": "tag-key", "Values": [INSTALL_TAG]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
        reports = {i["InstanceId"]: install_failure({t["Key"]: t["Value"]
                                                     for t in i.get("Tags", [])})
                   for page in pages for r in page["Reservations"] for i in r["Instances"]}
        failed = [f"{machine}: {why}" for machine, why in sorted(reports.items()) if why]
        if failed:
            status += f", install failed on {'; '.join(failed)}"
        return Verdict(healthy=serving >= want and not failed, status=status)

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        groups = self._describe(ctx, AutoScalingGroupNames=[id])
        return self._live(groups[0]) if groups else None

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        groups = self._describe(ctx, AutoScalingGroupNames=[id])
        return tags_dict(groups[0].get("Tags")) if groups else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("autoscaling").create_or_update_tags(Tags=_group_tags(id, tags))

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        groups = self._describe(ctx, AutoScalingGroupNames=[spec["name"]])
        if not groups:
            return None
        check_owned(ctx, address, "auto-scaling group", spec["name"], groups[0].get("Tags", []))
        live = self._live(groups[0])
        return (spec["name"], live) if live else None

    def _params(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {"AutoScalingGroupName": spec["name"],
                "LaunchTemplate": {"LaunchTemplateId": spec["launch_template_id"],
                                   "Version": str(spec["launch_template_version"])},
                "MinSize": spec["min_size"], "MaxSize": spec["max_size"],
                "DesiredCapacity": spec["desired_capacity"],
                "VPCZoneIdentifier": ",".join(spec["subnet_ids"]),
                "HealthCheckType": spec.get("health_check_type", "EC2"),
                "HealthCheckGracePeriod": spec.get("health_check_grace_period", 300)}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        client = ctx.aws.client("autoscaling")
        eventually(lambda: client.create_auto_scaling_group(
            **self._params(spec), Tags=_group_tags(spec["name"], ctx.tags(address, spec["name"])),
            LoadBalancerNames=spec.get("load_balancer_names", [])),
            codes=(), also=profile_not_yet, deadline=PROFILE_DEADLINE)
        live = self.read(ctx, spec["name"]) or {}
        return spec["name"], {"id": spec["name"], "name": spec["name"], "arn": live.get("arn")}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        client = ctx.aws.client("autoscaling")
        eventually(lambda: client.update_auto_scaling_group(**self._params(new)),
                   codes=(), also=profile_not_yet, deadline=PROFILE_DEADLINE)
        before = set(old.get("load_balancer_names") or [])
        after = set(new.get("load_balancer_names", []))
        if before - after:
            client.detach_load_balancers(AutoScalingGroupName=id,
                                         LoadBalancerNames=sorted(before - after))
        if after - before:
            client.attach_load_balancers(AutoScalingGroupName=id,
                                         LoadBalancerNames=sorted(after - before))
        return self.outputs_of(self.read(ctx, id) or {"id": id, "name": id})

    def delete(self, ctx: Context, id: str) -> None:
        try:
            ctx.aws.client("autoscaling").delete_auto_scaling_group(
                AutoScalingGroupName=id, ForceDelete=True)
        except ClientError as exc:
            if not _gone(exc):
                raise
        # Its instances hold subnets and security groups until they are gone.
        wait_until(lambda: True if not self._describe(ctx, AutoScalingGroupNames=[id])
                   else None, what=f"auto-scaling group {id} to be deleted",
                   timeout=DELETE_TIMEOUT)
