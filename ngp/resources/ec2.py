"""EC2 network kinds: VPC, subnets, gateways, addresses, route tables, security groups.

Each kind describes its describe call as data (Ec2Kind); a refresh of a kind is one
describe filtered by the env's tag, whatever the number of objects.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from ngp.aws import STILL_IN_USE, error_code, eventually, wait_until
from ngp.errors import ResourceError
from ngp.resources.base import (
    TAG_ADDRESS,
    TAG_ENV,
    Context,
    Field,
    Kind,
    ReadOnlyKind,
    kind,
    never_updated,
)

NAT_TIMEOUT = 900.0  # a NAT gateway takes 1-5 minutes; beyond 15 something is wrong
DELETE_DEADLINE = 600.0  # ENIs and NAT mappings can hold a delete for minutes


def tag_spec(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type,
             "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


def tag_pattern(value: str) -> str:
    """A filter value that matches value on AWS and on moto alike: moto reads filter values
    as fnmatch patterns, where the brackets of `subnet.public[a]` are a character class.
    `?` means one character on both; callers then compare the tag exactly."""
    return value.replace("[", "?").replace("]", "?")


class Ec2Kind(Kind):
    """An EC2 object found by describe calls; subclasses give the call's shape as data."""

    service = "ec2"
    describe: ClassVar[str]  # the describe operation, e.g. "describe_vpcs"
    items_key: ClassVar[str]  # the list in its answer, e.g. "Vpcs"
    id_key: ClassVar[str]  # the id in each item, e.g. "VpcId"
    ids_param: ClassVar[str]  # the parameter that takes ids, e.g. "VpcIds"
    filters_param: ClassVar[str] = "Filters"
    not_found: ClassVar[frozenset[str]]  # error codes that mean "no such id"
    resource_type: ClassVar[str] = ""  # for TagSpecifications

    def live(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """The item in spec terms, or None when its state means it is gone."""
        raise NotImplementedError

    def _describe(self, ctx: Context, **params: Any) -> list[dict[str, Any]]:
        client = ctx.aws.client("ec2")
        if client.can_paginate(self.describe):
            pages = client.get_paginator(self.describe).paginate(**params)
            return [item for page in pages for item in page[self.items_key]]
        return getattr(client, self.describe)(**params)[self.items_key]

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        try:
            items = self._describe(ctx, **{self.ids_param: [id]})
        except ClientError as exc:
            if error_code(exc) in self.not_found:
                return None
            raise
        return next((self.live(i) for i in items if i[self.id_key] == id), None)

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        wanted = set(ids)
        env_filter = [{"Name": f"tag:{TAG_ENV}", "Values": [ctx.env]}]
        found: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        for item in self._describe(ctx, **{self.filters_param: env_filter}):
            id = item[self.id_key]
            if id in wanted and tags_of(item).get(TAG_ENV) in (ctx.env, None):
                seen.add(id)
                live = self.live(item)
                if live is not None:
                    found[id] = live
        # An object whose tags were removed by hand is still ours: look it up by id.
        for id in sorted(wanted - seen):
            live = self.read(ctx, id)
            if live is not None:
                found[id] = live
        return found

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        filters = [{"Name": f"tag:{TAG_ENV}", "Values": [ctx.env]},
                   {"Name": f"tag:{TAG_ADDRESS}", "Values": [tag_pattern(address)]}]
        # Compare the tags here too: moto ignores tag filters on some describes (NAT gateways).
        items = [i for i in self._describe(ctx, **{self.filters_param: filters})
                 if tags_of(i).get(TAG_ADDRESS) == address and tags_of(i).get(TAG_ENV) == ctx.env]
        alive = [(i[self.id_key], live) for i in items if (live := self.live(i)) is not None]
        if len(alive) > 1:
            ids = ", ".join(sorted(id for id, _ in alive))
            raise ResourceError(
                f"{len(alive)} objects are tagged as this resource ({ids})",
                where=address,
                hint="Delete all but one in the AWS console, then run the command again.",
            )
        return alive[0] if alive else None

    def update_name(self, ctx: Context, id: str, old: dict, new: dict) -> None:
        if old.get("name") != new.get("name"):
            ctx.aws.client("ec2").create_tags(
                Resources=[id], Tags=[{"Key": "Name", "Value": new["name"]}]
            )

    def delete_call(self, ctx: Context, call: Any, *, busy: frozenset[str] = STILL_IN_USE,
                    **params: Any) -> None:
        """Delete: gone already is success; in use (`busy`) is waited out, up to a deadline."""
        id = next(iter(params.values()))
        ids = id if isinstance(id, list) else [id]

        def attempt() -> Any:
            try:
                return call(**params)
            except ClientError as exc:
                # NotFound right after a create may mean "not visible yet": believe it only
                # when a read agrees, or the object would be forgotten, not deleted.
                if error_code(exc) in self.not_found and self.read_many(ctx, ids):
                    raise ClientError({"Error": {"Code": "NotYetVisible", "Message": str(exc)}},
                                      "Delete") from None
                raise

        try:
            eventually(attempt, codes=busy | {"NotYetVisible"}, deadline=DELETE_DEADLINE)
        except ClientError as exc:
            if error_code(exc) not in self.not_found:
                raise


# What a new VPC has without asking: only what differs costs a call.
AWS_VPC_DEFAULTS = {"dns_support": True, "dns_hostnames": False}


@kind
class Vpc(Ec2Kind):
    """A VPC with DNS support and hostnames.

    spec: {"name": "ngp-vpc-dev", "cidr": "10.0.0.0/16", "dns_support": true,
           "dns_hostnames": true}
    DNS attributes need a call per VPC to read, so a refresh takes them as last applied.
    """

    name = "ec2.vpc"
    typical_seconds, typical_delete_seconds = 10.0, 1.0
    actions = ("ec2:DescribeVpcs", "ec2:CreateVpc", "ec2:CreateTags", "ec2:ModifyVpcAttribute",
               "ec2:DeleteVpc")
    describe, items_key, id_key, ids_param = "describe_vpcs", "Vpcs", "VpcId", "VpcIds"
    not_found = frozenset({"InvalidVpcID.NotFound"})
    resource_type = "vpc"
    fields = (Field("name"), Field("cidr", replaces=True), Field("dns_support"),
              Field("dns_hostnames"))
    outputs = ("id", "cidr")

    def live(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["VpcId"], "name": tags_of(item).get("Name"),
                "cidr": item["CidrBlock"], "status": item.get("State", "available")}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ec2 = ctx.aws.client("ec2")
        vpc = ec2.create_vpc(CidrBlock=spec["cidr"],
                             TagSpecifications=tag_spec("vpc", ctx.tags(address, spec["name"])))
        id = vpc["Vpc"]["VpcId"]
        self._set_dns(ctx, id, spec, old=AWS_VPC_DEFAULTS)
        return id, {"id": id, "cidr": spec["cidr"]}

    def _set_dns(self, ctx: Context, id: str, spec: dict, old: dict | None = None) -> None:
        ec2 = ctx.aws.client("ec2")
        # Hostnames need support on, so support is set first.
        for key, param in (("dns_support", "EnableDnsSupport"),
                           ("dns_hostnames", "EnableDnsHostnames")):
            if old is None or old.get(key) != spec[key]:
                attribute = {param: {"Value": spec[key]}}
                eventually(functools.partial(ec2.modify_vpc_attribute, VpcId=id, **attribute))

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        self.update_name(ctx, id, old, new)
        self._set_dns(ctx, id, new, old)
        return {"id": id, "cidr": new["cidr"]}

    def delete(self, ctx: Context, id: str) -> None:
        self.delete_call(ctx, ctx.aws.client("ec2").delete_vpc, VpcId=id)


class _Existing(ReadOnlyKind, Ec2Kind):
    """An object made by hand that the network is built in: read, referenced, never changed."""

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        try:
            items = self._describe(ctx, **{self.ids_param: sorted(set(ids))})
        except ClientError as exc:
            if error_code(exc) not in self.not_found:
                raise
            # One by one, to say which is missing.
            return {id: live for id in ids if (live := self.read(ctx, id)) is not None}
        return {i[self.id_key]: live for i in items if (live := self.live(i)) is not None}


@kind
class ExistingVpc(_Existing):
    """A VPC given by id in settings (network.existing_vpc_id). spec: {"id": "vpc-0a1b"}"""

    name = "ec2.existing_vpc"
    fields = (Field("id"),)
    actions = ("ec2:DescribeVpcs",)
    describe, items_key, id_key, ids_param = "describe_vpcs", "Vpcs", "VpcId", "VpcIds"
    not_found = frozenset({"InvalidVpcID.NotFound"})
    outputs = ("id", "cidr")

    def live(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["VpcId"], "cidr": item["CidrBlock"],
                "status": item.get("State", "available")}


@kind
class ExistingSubnet(_Existing):
    """A subnet given by id in settings. spec: {"id": "subnet-9f8e"}"""

    name = "ec2.existing_subnet"
    fields = (Field("id"),)
    actions = ("ec2:DescribeSubnets",)
    describe, items_key, id_key = "describe_subnets", "Subnets", "SubnetId"
    ids_param = "SubnetIds"
    not_found = frozenset({"InvalidSubnetID.NotFound"})
    outputs = ("id", "az", "cidr", "vpc_id")

    def live(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["SubnetId"], "az": item["AvailabilityZone"],
                "cidr": item["CidrBlock"], "vpc_id": item["VpcId"],
                "status": item.get("State", "available")}


USABLE_OPT_IN = ("opt-in-not-required", "opted-in")


def region_zones(aws: Any, instance_types: Iterable[str] = ()) -> list[str]:
    """The region's Availability Zones a subnet can be made in, by name: available ones,
    not Local or Wavelength Zones, none an account must opt in to and has not (AWS:
    API_DescribeAvailabilityZones.html, API_AvailabilityZone.html). One call; one more to
    keep only the zones that offer every one of instance_types (not all zones offer all
    types: us-east-1e has no t3 or m5, and RunInstances there answers Unsupported;
    API_DescribeInstanceTypeOfferings.html)."""
    ec2 = aws.client("ec2")
    answer = ec2.describe_availability_zones(Filters=[
        {"Name": "zone-type", "Values": ["availability-zone"]},
        {"Name": "state", "Values": ["available"]},
        {"Name": "opt-in-status", "Values": list(USABLE_OPT_IN)}])
    zones = sorted(z["ZoneName"] for z in answer["AvailabilityZones"]
                   if z.get("State") == "available"
                   and z.get("ZoneType", "availability-zone") == "availability-zone"
                   and z.get("OptInStatus", "opt-in-not-required") in USABLE_OPT_IN)
    wanted = sorted(set(instance_types))
    if not wanted:
        return zones
    offered: dict[str, set[str]] = {}
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": wanted}])
    for page in pages:
        for offer in page["InstanceTypeOfferings"]:
            offered.setdefault(offer["Location"], set()).add(offer["InstanceType"])
    return [z for z in zones if offered.get(z, set()) >= set(wanted)]


@kind
class Subnet(Ec2Kind):
    """A subnet in one AZ; a public one maps public IPs on launch.

    spec: {"name": "ngp-public-a-dev", "vpc_id": Ref("network.vpc"), "cidr": "10.0.0.0/20",
           "az": "us-east-1a", "public": true}
    """

    name = "ec2.subnet"
    actions = ("ec2:DescribeSubnets", "ec2:CreateSubnet", "ec2:CreateTags",
               "ec2:ModifySubnetAttribute", "ec2:DeleteSubnet",
               "ec2:DescribeAvailabilityZones",  # the run's region_zones
               "ec2:DescribeInstanceTypeOfferings")
    describe, items_key, id_key = "describe_subnets", "Subnets", "SubnetId"
    ids_param = "SubnetIds"
    not_found = frozenset({"InvalidSubnetID.NotFound"})
    resource_type = "subnet"
    fields = (Field("name"), Field("vpc_id", replaces=True), Field("cidr", replaces=True),
              Field("az", replaces=True), Field("public"))
    outputs = ("id", "az", "cidr")

    def live(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["SubnetId"], "name": tags_of(item).get("Name"),
                "vpc_id": item["VpcId"], "cidr": item["CidrBlock"],
                "az": item["AvailabilityZone"], "public": item.get("MapPublicIpOnLaunch", False),
                "status": item.get("State", "available")}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ec2 = ctx.aws.client("ec2")
        subnet = eventually(lambda: ec2.create_subnet(
            VpcId=spec["vpc_id"], CidrBlock=spec["cidr"], AvailabilityZone=spec["az"],
            TagSpecifications=tag_spec("subnet", ctx.tags(address, spec["name"]))))
        id = subnet["Subnet"]["SubnetId"]
        if spec["public"]:
            self._set_public(ctx, id, True)
        return id, {"id": id, "az": spec["az"], "cidr": spec["cidr"]}

    def _set_public(self, ctx: Context, id: str, public: bool) -> None:
        ec2 = ctx.aws.client("ec2")
        eventually(lambda: ec2.modify_subnet_attribute(
            SubnetId=id, MapPublicIpOnLaunch={"Value": public}))

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        self.update_name(ctx, id, old, new)
        if old.get("public") != new["public"]:
            self._set_public(ctx, id, new["public"])
        return {"id": id, "az": new["az"], "cidr": new["cidr"]}

    def delete(self, ctx: Context, id: str) -> None:
        self.delete_call(ctx, ctx.aws.client("ec2").delete_subnet, SubnetId=id)


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
