"""EC2 network kinds: the VPC (made or existing), its subnets and the region's zones, and
Ec2Kind, the describe-as-data base every EC2 kind shares. Gateways and routes are in
ec2_routes.py, security groups in ec2_security.py, instances in ec2_compute.py.

Each kind describes its describe call as data (Ec2Kind); a refresh of a kind is one
describe filtered by the env's tag, whatever the number of objects.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from ngp.aws import STILL_IN_USE, error_code, eventually
from ngp.errors import ResourceError
from ngp.resources.base import (
    TAG_ADDRESS,
    TAG_ENV,
    Context,
    Field,
    Importable,
    Kind,
    Owned,
    ReadOnlyKind,
    kind,
    with_owner_tags,
)

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


class Ec2Kind(Importable, Owned, Kind):
    """An EC2 object found by describe calls; subclasses give the call's shape as data.

    Every EC2 describe takes a `tag:<key>` filter (docs.aws.amazon.com/AWSEC2/latest/
    APIReference/API_DescribeVpcs.html, "Filters ... tag:<key>"; the same on DescribeSubnets,
    DescribeInstances, DescribeNatGateways, ...), so list_owned is one paginated describe."""

    service = "ec2"
    describe: ClassVar[str]  # the describe operation, e.g. "describe_vpcs"
    items_key: ClassVar[str]  # the list in its answer, e.g. "Vpcs"
    id_key: ClassVar[str]  # the id in each item, e.g. "VpcId"
    ids_param: ClassVar[str]  # the parameter that takes ids, e.g. "VpcIds"
    filters_param: ClassVar[str] = "Filters"
    not_found: ClassVar[frozenset[str]]  # error codes that mean "no such id"
    resource_type: ClassVar[str] = ""  # for TagSpecifications
    tag_key: ClassVar[str] = ""  # the item's id CreateTags takes, if not id_key (key pairs)

    def live(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """The item in spec terms, or None when its state means it is gone."""
        raise NotImplementedError

    def observed(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """What a read gives: the item live, with its ngp tags."""
        return with_owner_tags(self.live(item), tags_of(item))

    def _describe(self, ctx: Context, **params: Any) -> list[dict[str, Any]]:
        client = ctx.aws.client("ec2")
        if client.can_paginate(self.describe):
            pages = client.get_paginator(self.describe).paginate(**params)
            return [item for page in pages for item in page[self.items_key]]
        return getattr(client, self.describe)(**params)[self.items_key]

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        item = self._item(ctx, id)
        return self.observed(item) if item is not None else None

    def list_owned(self, ctx: Context) -> dict[str, dict[str, Any]]:
        env_filter = [{"Name": f"tag:{TAG_ENV}", "Values": [ctx.env]}]
        found: dict[str, dict[str, Any]] = {}
        for item in self._describe(ctx, **{self.filters_param: env_filter}):
            tags = tags_of(item)
            # Compare the tag too: moto ignores tag filters on some describes.
            if tags.get(TAG_ENV) == ctx.env and (live := self.live(item)) is not None:
                found[item[self.id_key]] = {**live, "tags": tags}
        return found

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
                live = self.observed(item)
                if live is not None:
                    found[id] = live
        # An object whose tags were removed by hand is still ours: look it up by id.
        for id in sorted(wanted - seen):
            live = self.read(ctx, id)
            if live is not None:
                found[id] = live
        return found

    def _item(self, ctx: Context, id: str) -> dict[str, Any] | None:
        try:
            items = self._describe(ctx, **{self.ids_param: [id]})
        except ClientError as exc:
            if error_code(exc) in self.not_found:
                return None
            raise
        return next((i for i in items if i[self.id_key] == id), None)

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        item = self._item(ctx, id)
        return None if item is None else tags_of(item)

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        resource = id
        if self.tag_key:
            item = self._item(ctx, id)
            resource = item[self.tag_key] if item else id
        ec2 = ctx.aws.client("ec2")
        eventually(lambda: ec2.create_tags(
            Resources=[resource], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]))

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        filters = [{"Name": f"tag:{TAG_ENV}", "Values": [ctx.env]},
                   {"Name": f"tag:{TAG_ADDRESS}", "Values": [tag_pattern(address)]}]
        # Compare the tags here too: moto ignores tag filters on some describes (NAT gateways).
        items = [i for i in self._describe(ctx, **{self.filters_param: filters})
                 if tags_of(i).get(TAG_ADDRESS) == address and tags_of(i).get(TAG_ENV) == ctx.env]
        alive = [(i[self.id_key], live) for i in items if (live := self.observed(i)) is not None]
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
