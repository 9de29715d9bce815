"""Classic load balancers, as DC/OS on AWS uses them (masters, internal masters, public agents)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code
from ngp.resources.base import (
    NAMED,
    Context,
    Field,
    Health,
    Importable,
    Kind,
    Registers,
    Verdict,
    Wanted,
    check_owned,
    found_by,
    kind,
    tags_dict,
)
from ngp.resources.route53 import CLASSIC_ELB_ZONES

GONE = frozenset({"LoadBalancerNotFound", "AccessPointNotFound"})


def _listener(item: dict[str, Any]) -> dict[str, Any]:
    return {"protocol": item["Protocol"].upper(), "port": item["LoadBalancerPort"],
            "instance_protocol": item.get("InstanceProtocol", item["Protocol"]).upper(),
            "instance_port": item["InstancePort"]}


def _listener_param(listener: dict[str, Any]) -> dict[str, Any]:
    return {"Protocol": listener["protocol"], "LoadBalancerPort": listener["port"],
            "InstanceProtocol": listener["instance_protocol"],
            "InstancePort": listener["instance_port"]}


def describe(ctx: Context, **params: Any) -> list[dict[str, Any]]:
    pages = ctx.aws.client("elb").get_paginator("describe_load_balancers").paginate(**params)
    return [d for page in pages for d in page["LoadBalancerDescriptions"]]


def describe_one(ctx: Context, name: str) -> dict[str, Any] | None:
    """One balancer's description, or None if it is gone."""
    try:
        found = describe(ctx, LoadBalancerNames=[name])
    except ClientError as exc:
        if error_code(exc) in GONE:
            return None
        raise
    return found[0] if found else None


def _not_yet(state: dict[str, str]) -> bool:
    """An instance OutOfService only because it is new: still booting (ReasonCode Instance,
    "Instance is in pending state.", as a group's new machine is right after `ngp up`), or
    registered and not yet through HealthyThreshold health checks, or its registration still
    in progress (ReasonCode ELB).
    https://docs.aws.amazon.com/elasticloadbalancing/2012-06-01/APIReference/API_InstanceState.html"""
    if state.get("State") != "OutOfService":
        return False
    why = state.get("Description", "")
    return (state.get("ReasonCode") == "ELB" and ("not passed" in why or
                                                  "still in progress" in why)) or (
        state.get("ReasonCode") == "Instance" and "pending state" in why)


@kind
class LoadBalancer(Health, Importable, Kind):
    """A classic load balancer: listeners, a health check and cross-zone balancing. Groups
    register their instances themselves; lone instances through an `elb.attachment`.

    spec: {"name": "ngp-masters-dev", "scheme": "internet-facing",
           "subnets": [Ref("network.subnet.public[a]"), ...],
           "security_groups": [Ref("network.sg.master_lb")],
           "listeners": [{"protocol": "TCP", "port": 443, "instance_protocol": "TCP",
                          "instance_port": 443}],
           "health_check": {"target": "TCP:5050", "interval": 30, "timeout": 5,
                            "healthy": 2, "unhealthy": 2},
           "cross_zone": true}
    outputs: id (the name), dns_name, zone_id (for Route53 aliases).
    Cross-zone balancing is not in a batched describe: it is taken as last applied.
    """

    name = "elb.load_balancer"
    typical_seconds, typical_delete_seconds = 5.0, 5.0
    service = "elasticloadbalancing"
    actions = ("elasticloadbalancing:DescribeLoadBalancers",
               "elasticloadbalancing:DescribeTags",
               "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:AddTags",
               "elasticloadbalancing:ConfigureHealthCheck",
               "elasticloadbalancing:ModifyLoadBalancerAttributes",
               "elasticloadbalancing:CreateLoadBalancerListeners",
               "elasticloadbalancing:DeleteLoadBalancerListeners",
               "elasticloadbalancing:AttachLoadBalancerToSubnets",
               "elasticloadbalancing:DetachLoadBalancerFromSubnets",
               "elasticloadbalancing:ApplySecurityGroupsToLoadBalancer",
               "elasticloadbalancing:DescribeInstanceHealth",
               "elasticloadbalancing:DeleteLoadBalancer", "iam:CreateServiceLinkedRole")
    # AWS makes the service-linked role on the first create in an account:
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-service-linked-roles.html
    linked_service = "elasticloadbalancing.amazonaws.com"
    fields = (Field("name", replaces=True), Field("scheme", replaces=True),
              Field("subnets", set=True), Field("security_groups", set=True),
              Field("listeners", set=True, by="port"), Field("health_check"), Field("cross_zone"))
    outputs = ("id", "name", "dns_name", "zone_id")
    echoes = NAMED

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        # More than order: AWS answers protocols in upper case.
        if isinstance(spec.get("listeners"), list):
            spec = {**spec, "listeners": [
                {**item, "protocol": str(item["protocol"]).upper(),
                 "instance_protocol": str(item["instance_protocol"]).upper()}
                for item in spec["listeners"]]}
        return super().canonical(spec)

    def _live(self, ctx: Context, item: dict[str, Any]) -> dict[str, Any]:
        live: dict[str, Any] = {
            "id": item["LoadBalancerName"], "name": item["LoadBalancerName"],
            "scheme": item.get("Scheme"), "subnets": item.get("Subnets", []),
            "security_groups": item.get("SecurityGroups", []),
            "listeners": [_listener(d["Listener"]) for d in item.get("ListenerDescriptions", [])],
            "dns_name": item.get("DNSName"),
            # moto leaves this out; AWS documents one zone per region.
            "zone_id": item.get("CanonicalHostedZoneNameID")
            or CLASSIC_ELB_ZONES.get(ctx.aws.region), "status": "active"}
        if item.get("HealthCheck"):
            check = item["HealthCheck"]
            live["health_check"] = {"target": check["Target"], "interval": check["Interval"],
                                    "timeout": check["Timeout"],
                                    "healthy": check["HealthyThreshold"],
                                    "unhealthy": check["UnhealthyThreshold"]}
        return self.canonical(live)

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        return {d["LoadBalancerName"]: self._live(ctx, d) for d in describe(ctx)
                if d["LoadBalancerName"] in ids}

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        found = describe_one(ctx, id)
        return self._live(ctx, found) if found else None

    def health(self, ctx: Context, id: str, wanted: Wanted) -> Verdict:
        """Its instances in service, out of those registered or those the env's groups and
        attachments put behind it, whichever is more: a balancer that should have instances
        behind it and has none in service is not healthy."""
        states = ctx.aws.client("elb").describe_instance_health(LoadBalancerName=id)[
            "InstanceStates"]
        if not states:
            if not wanted.members:
                return Verdict(healthy=True, status="no instances")
            return Verdict(healthy=False, status=f"0/{wanted.members} in service, "
                           "no instances registered")
        serving = sum(1 for s in states if s["State"] == "InService")
        waiting = sum(1 for s in states if _not_yet(s))
        total = max(len(states), wanted.members)
        health = f"{serving}/{total} in service"
        return Verdict(healthy=serving >= total,
                       status=f"{health}, {waiting} not yet healthy" if waiting else health)

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        try:
            found = ctx.aws.client("elb").describe_tags(LoadBalancerNames=[id])
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise
        described = found["TagDescriptions"]
        return tags_dict(described[0].get("Tags")) if described else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("elb").add_tags(LoadBalancerNames=[id], Tags=[
            {"Key": k, "Value": v} for k, v in tags.items()])

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        live = self.read(ctx, spec["name"])
        tags = self.tags(ctx, spec["name"]) if live else None
        if live is None or tags is None:
            return None
        check_owned(ctx, address, "load balancer", spec["name"], tags)
        return spec["name"], live

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        elb = ctx.aws.client("elb")
        elb.create_load_balancer(
            LoadBalancerName=spec["name"], Scheme=spec["scheme"], Subnets=spec["subnets"],
            SecurityGroups=spec["security_groups"],
            Listeners=[_listener_param(item) for item in spec["listeners"]],
            Tags=[{"Key": k, "Value": v} for k, v in ctx.tags(address, spec["name"]).items()])
        self._settings(ctx, spec["name"], {}, spec)
        live = self.read(ctx, spec["name"]) or {}
        return spec["name"], self.outputs_of(live)

    def _settings(self, ctx: Context, name: str, old: dict, new: dict) -> None:
        elb = ctx.aws.client("elb")
        if new.get("health_check") and old.get("health_check") != new["health_check"]:
            check = new["health_check"]
            elb.configure_health_check(LoadBalancerName=name, HealthCheck={
                "Target": check["target"], "Interval": check["interval"],
                "Timeout": check["timeout"], "HealthyThreshold": check["healthy"],
                "UnhealthyThreshold": check["unhealthy"]})
        if "cross_zone" in new and old.get("cross_zone") != new["cross_zone"]:
            elb.modify_load_balancer_attributes(LoadBalancerName=name, LoadBalancerAttributes={
                "CrossZoneLoadBalancing": {"Enabled": new["cross_zone"]}})

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        elb = ctx.aws.client("elb")
        before = {item["port"]: item for item in old.get("listeners") or []}
        after = {item["port"]: item for item in new["listeners"]}
        changed = [p for p in before if p not in after or before[p] != after[p]]
        if changed:
            elb.delete_load_balancer_listeners(LoadBalancerName=id, LoadBalancerPorts=changed)
        added = [after[p] for p in sorted(after) if p not in before or before[p] != after[p]]
        if added:
            elb.create_load_balancer_listeners(
                LoadBalancerName=id, Listeners=[_listener_param(item) for item in added])
        gone_subnets = set(old.get("subnets") or []) - set(new["subnets"])
        new_subnets = set(new["subnets"]) - set(old.get("subnets") or [])
        if new_subnets:
            elb.attach_load_balancer_to_subnets(LoadBalancerName=id, Subnets=sorted(new_subnets))
        if gone_subnets:
            elb.detach_load_balancer_from_subnets(LoadBalancerName=id,
                                                  Subnets=sorted(gone_subnets))
        if sorted(old.get("security_groups") or []) != new["security_groups"]:
            elb.apply_security_groups_to_load_balancer(LoadBalancerName=id,
                                                       SecurityGroups=new["security_groups"])
        self._settings(ctx, id, old, new)
        return self.outputs_of(self.read(ctx, id) or {"id": id})

    def delete(self, ctx: Context, id: str) -> None:
        try:
            ctx.aws.client("elb").delete_load_balancer(LoadBalancerName=id)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise


@kind
class Attachment(Registers, Kind):
    """The instances registered with a classic load balancer, apart from the balancer, so
    machines that need its DNS name (DC/OS masters, through config.yaml) are made after it
    and then registered with it. It owns the balancer's registrations: a balancer that a
    group registers with needs none. AWS cannot tag a registration; its id is the balancer,
    and with nothing registered there is no attachment.

    spec: {"load_balancer": Ref("dcos.masters_lb"),
           "instances": [Ref("dcos.master[0]"), Ref("dcos.master[1]"), Ref("dcos.master[2]")]}
    """

    name = "elb.attachment"
    not_imported = found_by("the two objects it joins")
    service = "elasticloadbalancing"
    actions = ("elasticloadbalancing:DescribeLoadBalancers",
               "elasticloadbalancing:RegisterInstancesWithLoadBalancer",
               "elasticloadbalancing:DeregisterInstancesFromLoadBalancer")
    fields = (Field("load_balancer", replaces=True), Field("instances", set=True))

    def registered(self, spec: dict[str, Any]) -> dict[str, int]:
        return {spec["load_balancer"]: len(spec.get("instances") or [])}

    def _live(self, item: dict[str, Any]) -> dict[str, Any] | None:
        instances = [i["InstanceId"] for i in item.get("Instances", [])]
        if not instances:
            return None  # nothing registered: no attachment
        return self.canonical({"id": item["LoadBalancerName"],
                               "load_balancer": item["LoadBalancerName"],
                               "instances": instances,
                               "status": f"{len(instances)} registered"})

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        return {d["LoadBalancerName"]: live for d in describe(ctx)
                if d["LoadBalancerName"] in ids and (live := self._live(d))}

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        found = describe_one(ctx, id)
        return self._live(found) if found else None

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        # The balancer is the env's (its own resource checked that): adopt its registrations.
        live = self.read(ctx, spec["load_balancer"])
        return (live["id"], live) if live else None

    def _register(self, ctx: Context, name: str, before: set[str], after: set[str]) -> None:
        elb = ctx.aws.client("elb")
        if added := sorted(after - before):
            elb.register_instances_with_load_balancer(
                LoadBalancerName=name, Instances=[{"InstanceId": i} for i in added])
        if removed := sorted(before - after):
            elb.deregister_instances_from_load_balancer(
                LoadBalancerName=name, Instances=[{"InstanceId": i} for i in removed])

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        name = spec["load_balancer"]
        self._register(ctx, name, set(), set(spec["instances"]))
        return name, {"id": name}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        self._register(ctx, id, set(old.get("instances") or []), set(new["instances"]))
        return {"id": id}

    def delete(self, ctx: Context, id: str) -> None:
        live = self.read(ctx, id)
        if live and live["instances"]:
            self._register(ctx, id, set(live["instances"]), set())
