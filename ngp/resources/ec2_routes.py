"""EC2 kinds that carry traffic out of and around the VPC: the internet gateway, Elastic
IPs, NAT gateways, route tables and their subnets' associations."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import STILL_IN_USE, error_code, eventually, wait_until
from ngp.errors import ResourceError
from ngp.resources.base import (
    TAG_ENV,
    Context,
    Field,
    Kind,
    found_by,
    kind,
    never_updated,
)
from ngp.resources.ec2 import DELETE_DEADLINE, Ec2Kind, tag_spec, tags_of


@kind
class InternetGateway(Ec2Kind):
    """An internet gateway attached to a VPC.

    spec: {"name": "ngp-igw-dev", "vpc_id": Ref("network.vpc")}
    Created, then attached: a run killed in between adopts it and the update attaches it.
    """

    name = "ec2.internet_gateway"
    fields = (Field("name"), Field("vpc_id"))
    actions = ("ec2:DescribeInternetGateways", "ec2:CreateInternetGateway", "ec2:CreateTags",
               "ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
               "ec2:DeleteInternetGateway")
    describe, items_key = "describe_internet_gateways", "InternetGateways"
    id_key, ids_param = "InternetGatewayId", "InternetGatewayIds"
    not_found = frozenset({"InvalidInternetGatewayID.NotFound"})
    resource_type = "internet-gateway"

    def live(self, item: dict[str, Any]) -> dict[str, Any]:
        attached = [a["VpcId"] for a in item.get("Attachments", [])
                    if a.get("State") in ("available", "attached", "attaching")]
        return {"id": item["InternetGatewayId"], "name": tags_of(item).get("Name"),
                "vpc_id": attached[0] if attached else None,
                "status": "attached" if attached else "detached"}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ec2 = ctx.aws.client("ec2")
        igw = ec2.create_internet_gateway(
            TagSpecifications=tag_spec(self.resource_type, ctx.tags(address, spec["name"])))
        id = igw["InternetGateway"]["InternetGatewayId"]
        eventually(lambda: ec2.attach_internet_gateway(InternetGatewayId=id, VpcId=spec["vpc_id"]))
        return id, {"id": id}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        ec2 = ctx.aws.client("ec2")
        self.update_name(ctx, id, old, new)
        if old.get("vpc_id") != new["vpc_id"]:
            if old.get("vpc_id"):
                self._detach(ctx, id, old["vpc_id"])
            eventually(lambda: ec2.attach_internet_gateway(
                InternetGatewayId=id, VpcId=new["vpc_id"]))
        return {"id": id}

    def _detach(self, ctx: Context, id: str, vpc_id: str) -> None:
        ec2 = ctx.aws.client("ec2")
        try:
            eventually(lambda: ec2.detach_internet_gateway(InternetGatewayId=id, VpcId=vpc_id),
                       codes=STILL_IN_USE, deadline=DELETE_DEADLINE)
        except ClientError as exc:
            if error_code(exc) not in ("Gateway.NotAttached", "InvalidVpcID.NotFound",
                                       *self.not_found):
                raise

    def delete(self, ctx: Context, id: str) -> None:
        live = self.read(ctx, id)
        if live is None:
            return
        if live["vpc_id"]:
            self._detach(ctx, id, live["vpc_id"])
        self.delete_call(ctx, ctx.aws.client("ec2").delete_internet_gateway,
                         InternetGatewayId=id)


@kind
class ElasticIp(Ec2Kind):
    """An Elastic IP address in the VPC domain. spec: {"name": "ngp-nat-a-dev"}"""

    name = "ec2.eip"
    fields = (Field("name"),)
    actions = ("ec2:DescribeAddresses", "ec2:AllocateAddress", "ec2:CreateTags",
               "ec2:ReleaseAddress")
    describe, items_key, id_key = "describe_addresses", "Addresses", "AllocationId"
    ids_param = "AllocationIds"
    not_found = frozenset({"InvalidAllocationID.NotFound"})
    resource_type = "elastic-ip"
    outputs = ("id", "public_ip")

    def live(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["AllocationId"], "name": tags_of(item).get("Name"),
                "public_ip": item.get("PublicIp"),
                "status": "associated" if item.get("AssociationId") else "allocated"}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        eip = ctx.aws.client("ec2").allocate_address(
            Domain="vpc",
            TagSpecifications=tag_spec(self.resource_type, ctx.tags(address, spec["name"])))
        return eip["AllocationId"], {"id": eip["AllocationId"], "public_ip": eip["PublicIp"]}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        self.update_name(ctx, id, old, new)
        live = self.read(ctx, id) or {}
        return {"id": id, "public_ip": live.get("public_ip")}

    def delete(self, ctx: Context, id: str) -> None:
        # A NAT gateway being deleted keeps its address a while: wait it out.
        self.delete_call(ctx, ctx.aws.client("ec2").release_address,
                         busy=STILL_IN_USE | {"AuthFailure"}, AllocationId=id)


NAT_TIMEOUT = 900.0  # a NAT gateway takes 1-5 minutes; beyond 15 something is wrong


# What to do about a NAT gateway's FailureCode (API_NatGateway.html lists them).
NAT_FAILURE_HINTS = {
    "Gateway.NotAttached": "Attach an internet gateway to the VPC (ngp's network module "
                           "attaches it first), then run the command again: ngp makes a new "
                           "NAT gateway (AWS deletes the failed one).",
    "InsufficientFreeAddressesInSubnet": "Free addresses in the public subnet, then run the "
                                         "command again.",
    "Resource.AlreadyAssociated": "Disassociate the Elastic IP from what holds it, then run "
                                  "the command again.",
}


def nat_failure(address: str, id: str, item: dict[str, Any]) -> ResourceError:
    """One line for a NAT gateway that did not become available: its state, AWS's code and
    message, and what to do."""
    code = item.get("FailureCode")
    why = f": {code}: {item.get('FailureMessage', '')}".rstrip(": ") if code else ""
    hint = NAT_FAILURE_HINTS.get(code or "", "Fix the cause, then run the command again: "
                                 "ngp makes a new NAT gateway.")
    return ResourceError(f"NAT gateway {id} is {item['State']}{why}", where=address, hint=hint)


@kind
class NatGateway(Ec2Kind):
    """A public NAT gateway with an Elastic IP; create waits until it is available.

    spec: {"name": "ngp-nat-a-dev", "subnet_id": Ref("network.subnet.public[a]"),
           "allocation_id": Ref("network.eip.nat[a]")}
    """

    name = "ec2.nat_gateway"
    typical_seconds, typical_delete_seconds = 110.0, 60.0
    actions = ("ec2:DescribeNatGateways", "ec2:CreateNatGateway", "ec2:CreateTags",
               "ec2:DeleteNatGateway")
    describe, items_key, id_key = "describe_nat_gateways", "NatGateways", "NatGatewayId"
    ids_param, filters_param = "NatGatewayIds", "Filter"
    not_found = frozenset({"NatGatewayNotFound", "InvalidNatGatewayID.NotFound"})
    resource_type = "natgateway"
    fields = (Field("name"), Field("subnet_id", replaces=True),
              Field("allocation_id", replaces=True))

    def live(self, item: dict[str, Any]) -> dict[str, Any] | None:
        if item.get("State") in ("deleting", "deleted", "failed"):
            return None
        addresses = item.get("NatGatewayAddresses") or [{}]
        return {"id": item["NatGatewayId"], "name": tags_of(item).get("Name"),
                "subnet_id": item.get("SubnetId"),
                "allocation_id": addresses[0].get("AllocationId"),
                "status": item.get("State")}

    def _state(self, ctx: Context, id: str) -> dict[str, Any]:
        items = self._describe(ctx, NatGatewayIds=[id])
        return items[0] if items else {"State": "deleted"}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ec2 = ctx.aws.client("ec2")
        nat = eventually(lambda: ec2.create_nat_gateway(
            SubnetId=spec["subnet_id"], AllocationId=spec["allocation_id"],
            TagSpecifications=tag_spec(self.resource_type, ctx.tags(address, spec["name"]))))
        id = nat["NatGateway"]["NatGatewayId"]
        if nat["NatGateway"].get("State") != "available":  # on AWS it starts as pending
            self._wait_available(ctx, address, id)
        return id, {"id": id}

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        # A create killed while AWS still had it pending is adopted once it is available,
        # as the create itself would have returned: routes through it work at once.
        found = super().find(ctx, address, spec)
        if found and found[1]["status"] == "pending":
            self._wait_available(ctx, address, found[0])
            return found[0], {**found[1], "status": "available"}
        return found

    def _wait_available(self, ctx: Context, address: str, id: str) -> None:
        def available() -> bool | None:
            item = eventually(lambda: self._state(ctx, id))
            if item["State"] == "available":
                return True
            if item["State"] in ("failed", "deleted", "deleting"):
                raise nat_failure(address, id, item)
            return None

        wait_until(available, what=f"NAT gateway {id} to be available", timeout=NAT_TIMEOUT)

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        self.update_name(ctx, id, old, new)
        return {"id": id}

    def delete(self, ctx: Context, id: str) -> None:
        self.delete_call(ctx, ctx.aws.client("ec2").delete_nat_gateway, NatGatewayId=id)
        # Its subnet and address stay in use until it is really gone.
        wait_until(lambda: True if self._state(ctx, id)["State"] in ("deleted", "failed")
                   else None, what=f"NAT gateway {id} to be deleted", timeout=NAT_TIMEOUT)


def _route_target(route: dict[str, Any]) -> tuple[str, str] | None:
    for key, param in (("GatewayId", "gateway_id"), ("NatGatewayId", "nat_gateway_id")):
        if route.get(key):
            return param, route[key]
    return None


_ROUTE_PARAMS = {"gateway_id": "GatewayId", "nat_gateway_id": "NatGatewayId"}


@kind
class RouteTable(Ec2Kind):
    """A route table and its routes (besides the VPC's local route).

    spec: {"name": "ngp-public-dev", "vpc_id": Ref("network.vpc"),
           "routes": [{"cidr": "0.0.0.0/0", "gateway_id": Ref("network.igw")}]}
    """

    name = "ec2.route_table"
    actions = ("ec2:DescribeRouteTables", "ec2:CreateRouteTable", "ec2:CreateTags",
               "ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute", "ec2:DeleteRouteTable")
    describe, items_key, id_key = "describe_route_tables", "RouteTables", "RouteTableId"
    ids_param = "RouteTableIds"
    not_found = frozenset({"InvalidRouteTableID.NotFound"})
    resource_type = "route-table"
    fields = (Field("name"), Field("vpc_id", replaces=True), Field("routes", set=True, by="cidr"))

    def live(self, item: dict[str, Any]) -> dict[str, Any]:
        routes = []
        for route in item.get("Routes", []):
            target = _route_target(route)
            if route.get("GatewayId") == "local" or not route.get("DestinationCidrBlock"):
                continue
            if target and route.get("Origin", "CreateRoute") == "CreateRoute":
                routes.append({"cidr": route["DestinationCidrBlock"], target[0]: target[1]})
        return self.canonical({"id": item["RouteTableId"], "name": tags_of(item).get("Name"),
                               "vpc_id": item["VpcId"], "routes": routes,
                               "status": "available"})

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ec2 = ctx.aws.client("ec2")
        table = eventually(lambda: ec2.create_route_table(
            VpcId=spec["vpc_id"],
            TagSpecifications=tag_spec(self.resource_type, ctx.tags(address, spec["name"]))))
        id = table["RouteTable"]["RouteTableId"]
        for route in spec.get("routes", []):
            self._route(ctx, "create_route", id, route)
        return id, {"id": id}

    def _route(self, ctx: Context, op: str, table_id: str, route: dict[str, Any]) -> None:
        params = {"RouteTableId": table_id, "DestinationCidrBlock": route["cidr"]}
        for key, param in _ROUTE_PARAMS.items():
            if key in route:
                params[param] = route[key]
        eventually(lambda: getattr(ctx.aws.client("ec2"), op)(**params))

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        self.update_name(ctx, id, old, new)
        before = {r["cidr"]: r for r in old.get("routes", [])}
        after = {r["cidr"]: r for r in new.get("routes", [])}
        for cidr in sorted(before.keys() - after.keys()):
            try:
                ctx.aws.client("ec2").delete_route(RouteTableId=id, DestinationCidrBlock=cidr)
            except ClientError as exc:
                if error_code(exc) != "InvalidRoute.NotFound":
                    raise
        for cidr, route in sorted(after.items()):
            if cidr not in before:
                self._route(ctx, "create_route", id, route)
            elif before[cidr] != route:
                self._route(ctx, "replace_route", id, route)
        return {"id": id}

    def delete(self, ctx: Context, id: str) -> None:
        self.delete_call(ctx, ctx.aws.client("ec2").delete_route_table, RouteTableId=id)


@kind
class RouteTableAssociation(Kind):
    """A subnet's association with a route table. AWS cannot tag it, so its natural key,
    the subnet, is what find looks up.

    spec: {"subnet_id": Ref("network.subnet.public[a]"),
           "route_table_id": Ref("network.route_table.public")}
    """

    name = "ec2.route_table_association"
    not_imported = found_by("the two objects it joins")
    actions = ("ec2:DescribeRouteTables", "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable")
    service = "ec2"
    fields = (Field("subnet_id", replaces=True), Field("route_table_id", replaces=True))
    not_found = frozenset({"InvalidAssociationID.NotFound"})

    def _associations(self, ctx: Context, filters: list[dict]) -> dict[str, dict[str, Any]]:
        pages = ctx.aws.client("ec2").get_paginator("describe_route_tables").paginate(
            Filters=filters)
        found = {}
        for page in pages:
            for table in page["RouteTables"]:
                for assoc in table.get("Associations", []):
                    state = assoc.get("AssociationState", {}).get("State", "associated")
                    if assoc.get("SubnetId") and state in ("associated", "associating"):
                        found[assoc["RouteTableAssociationId"]] = {
                            "id": assoc["RouteTableAssociationId"],
                            "subnet_id": assoc["SubnetId"],
                            "route_table_id": assoc["RouteTableId"], "status": state}
        return found

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        found = self._associations(
            ctx, [{"Name": "association.route-table-association-id", "Values": [id]}])
        return found.get(id)

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        found = self._associations(ctx, [{"Name": f"tag:{TAG_ENV}", "Values": [ctx.env]}])
        return {id: found[id] for id in ids if id in found}

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        # The filter selects tables; a table lists all its subnets' associations.
        found = self._associations(
            ctx, [{"Name": "association.subnet-id", "Values": [spec["subnet_id"]]}])
        for id, live in found.items():
            if (live["subnet_id"], live["route_table_id"]) == (spec["subnet_id"],
                                                             spec["route_table_id"]):
                return id, live
        return None

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ec2 = ctx.aws.client("ec2")
        assoc = eventually(lambda: ec2.associate_route_table(
            SubnetId=spec["subnet_id"], RouteTableId=spec["route_table_id"]))
        return assoc["AssociationId"], {"id": assoc["AssociationId"]}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        raise never_updated(self, id)

    def delete(self, ctx: Context, id: str) -> None:
        try:
            ctx.aws.client("ec2").disassociate_route_table(AssociationId=id)
        except ClientError as exc:
            if error_code(exc) not in self.not_found:
                raise
