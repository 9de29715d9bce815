"""EC2's network rules moto does not keep: each region's zones as AWS has them, a NAT
gateway that needs an attached internet gateway and is `pending` a while, an internet
gateway that cannot be detached while public addresses are mapped, and deletes of what is
still in use."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ngp.sandbox.strict import Answer, Call, Refusal, Rule, backend, ends_at, rule

ZONES_SOURCE = "https://docs.aws.amazon.com/global-infrastructure/latest/regions/az-ids.html"


@dataclass(frozen=True)
class Zone:
    name: str
    id: str
    type: str = "availability-zone"
    opt_in: str = "opt-in-not-required"
    group: str = ""  # an Availability Zone's group is its region; a Local Zone's its own
    parent: str = ""  # a Local Zone's parent Availability Zone


def _azs(region: str, *pairs: str) -> list[Zone]:
    """A region's Availability Zones from "letter:AZ ID" pairs."""
    return [Zone(f"{region}{pair[0]}", pair[2:], group=region) for pair in pairs]


# Each region's Availability Zones as DescribeAvailabilityZones shows them to a new account
# (names map to AZ IDs per account in the older regions: ZONES_SOURCE). ap-northeast-1 has no
# "b" (apne1-az3 is closed to new accounts), ca-central-1 has a, b, d; us-west-1 has two, b
# and c in recent accounts ("Subnets can currently only be created in the following
# availability zones: us-west-1b, us-west-1c": aws-solutions/workload-discovery-on-aws#234).
# Local Zones are opt-in: one opted in (listed, but not an Availability Zone: ngp must skip
# it) and others not opted in (listed only with AllAvailabilityZones).
ZONES: dict[str, list[Zone]] = {
    "us-east-1": [*_azs("us-east-1", "a:use1-az6", "b:use1-az1", "c:use1-az2", "d:use1-az4",
                        "e:use1-az3", "f:use1-az5"),
                  Zone("us-east-1-bos-1a", "use1-bos1-az1", "local-zone", "opted-in",
                       "us-east-1-bos-1", "us-east-1a"),
                  Zone("us-east-1-mia-1a", "use1-mia1-az1", "local-zone", "not-opted-in",
                       "us-east-1-mia-1", "us-east-1b")],
    "us-east-2": _azs("us-east-2", "a:use2-az1", "b:use2-az2", "c:use2-az3"),
    "us-west-1": _azs("us-west-1", "b:usw1-az3", "c:usw1-az1"),
    "us-west-2": [*_azs("us-west-2", "a:usw2-az2", "b:usw2-az1", "c:usw2-az3", "d:usw2-az4"),
                  Zone("us-west-2-lax-1a", "usw2-lax1-az1", "local-zone", "not-opted-in",
                       "us-west-2-lax-1", "us-west-2a")],
    "ca-central-1": _azs("ca-central-1", "a:cac1-az1", "b:cac1-az2", "d:cac1-az4"),
    "sa-east-1": _azs("sa-east-1", "a:sae1-az1", "b:sae1-az2", "c:sae1-az3"),
    "eu-west-1": _azs("eu-west-1", "a:euw1-az3", "b:euw1-az1", "c:euw1-az2"),
    "eu-west-2": _azs("eu-west-2", "a:euw2-az2", "b:euw2-az3", "c:euw2-az1"),
    "eu-central-1": _azs("eu-central-1", "a:euc1-az1", "b:euc1-az2", "c:euc1-az3"),
    "eu-north-1": _azs("eu-north-1", "a:eun1-az1", "b:eun1-az2", "c:eun1-az3"),
    "ap-northeast-1": [*_azs("ap-northeast-1", "a:apne1-az4", "c:apne1-az1", "d:apne1-az2"),
                       Zone("ap-northeast-1-tpe-1a", "apne1-tpe1-az1", "local-zone",
                            "not-opted-in", "ap-northeast-1-tpe-1", "ap-northeast-1a")],
    "ap-northeast-2": _azs("ap-northeast-2", "a:apne2-az1", "b:apne2-az2", "c:apne2-az3",
                           "d:apne2-az4"),
    "ap-southeast-1": _azs("ap-southeast-1", "a:apse1-az1", "b:apse1-az2", "c:apse1-az3"),
    "ap-southeast-2": _azs("ap-southeast-2", "a:apse2-az1", "b:apse2-az3", "c:apse2-az2"),
    "ap-south-1": _azs("ap-south-1", "a:aps1-az1", "b:aps1-az3", "c:aps1-az2"),
}


def usable(zone: Zone) -> bool:
    """A zone a subnet can be made in: not a Local Zone the account has not opted in to."""
    return zone.opt_in != "not-opted-in"


def _teach_moto(zones: dict[str, list[Zone]]) -> None:
    """moto checks subnets' zones against its own table: give it ours, so a zone AWS has
    and moto lacks (us-west-1c) is accepted and one moto has and AWS lacks is not."""
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
    from moto.ec2.models.availability_zones_and_regions import Zone as MotoZone

    for region, listed in zones.items():
        RegionsAndZonesBackend.zones[region] = [
            MotoZone(name=z.name, region_name=region, zone_id=z.id, zone_type=z.type)
            for z in listed if usable(z)]


_FILTERS = {"zone-name": "name", "zone-id": "id", "zone-type": "type",
            "opt-in-status": "opt_in", "group-name": "group"}


def _filters(call: Call) -> list[tuple[str, list[str]]]:
    found = []
    for n in range(1, 51):
        name = call.param(f"Filter.{n}.Name")
        if name is None:
            break
        found.append((name, call.listed(f"Filter.{n}.Value")))
    return found


def _matches(zone: Zone, region: str, filters: list[tuple[str, list[str]]]) -> bool:
    for name, values in filters:
        if name == "state":
            value = "available"
        elif name == "region-name":
            value = region
        elif name in _FILTERS:
            value = getattr(zone, _FILTERS[name])
        else:
            continue  # a filter the table does not model: AWS would apply it, we do not
        if value not in values:
            return False
    return True


def _zone_xml(zone: Zone, region: str) -> str:
    parent = (f"<parentZoneName>{zone.parent}</parentZoneName>" if zone.parent else "")
    return (f"<item><zoneName>{zone.name}</zoneName><zoneState>available</zoneState>"
            f"<regionName>{region}</regionName><zoneId>{zone.id}</zoneId>"
            f"<zoneType>{zone.type}</zoneType><optInStatus>{zone.opt_in}</optInStatus>"
            f"<groupName>{zone.group}</groupName>"
            f"<networkBorderGroup>{zone.group}</networkBorderGroup>{parent}"
            "<messageSet/></item>")


@rule
class AvailabilityZones(Rule):
    name = "ec2.availability-zones"
    summary = ("each region has the zones AWS gives it (ap-northeast-1: a, c, d; us-west-1: b, "
               "c), with ZoneId and OptInStatus, Local Zones not opted in shown only with "
               "AllAvailabilityZones; a subnet elsewhere is InvalidParameterValue")
    source = ZONES_SOURCE

    def __init__(self) -> None:
        super().__init__()
        _teach_moto(ZONES)

    def before(self, call: Call) -> None:
        if call.service != "ec2" or call.operation != "CreateSubnet":
            return
        zones = ZONES.get(call.region)
        wanted = call.param("AvailabilityZone")
        if zones is None or wanted is None:
            return
        if not any(z.name == wanted and usable(z) for z in zones):
            names = ", ".join(z.name for z in zones if z.type == "availability-zone")
            raise Refusal("InvalidParameterValue",
                          f"Value ({wanted}) for parameter availabilityZone is invalid. Subnets "
                          f"can currently only be created in the following availability zones: "
                          f"{names}.")

    def after(self, call: Call, answer: Answer) -> None:
        if (call.service != "ec2" or call.operation != "DescribeAvailabilityZones"
                or answer.status != 200 or call.region not in ZONES):
            return
        everything = str(call.param("AllAvailabilityZones", "")).lower() == "true"
        names, ids = call.listed("ZoneName"), call.listed("ZoneId")
        filters = _filters(call)
        shown = [z for z in ZONES[call.region]
                 if (everything or names or ids or z.opt_in != "not-opted-in")
                 and (not names or z.name in names) and (not ids or z.id in ids)
                 and _matches(z, call.region, filters)]
        items = "".join(_zone_xml(z, call.region) for z in shown)
        answer.body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                       "<DescribeAvailabilityZonesResponse xmlns=\"http://ec2.amazonaws.com/"
                       "doc/2016-11-15/\"><requestId>ngp-strict</requestId>"
                       f"<availabilityZoneInfo>{items}</availabilityZoneInfo>"
                       "</DescribeAvailabilityZonesResponse>").encode()


# -- NAT gateways ------------------------------------------------------------------------

NAT_SOURCE = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_NatGateway.html"
NAT_PENDING_SECONDS = 1.0  # how long a new NAT gateway stays pending here (AWS: 1-5 minutes)


def _attached_igw(ec2: Any, vpc_id: str) -> bool:
    return any(getattr(igw, "vpc", None) is not None and igw.vpc.id == vpc_id
               for igw in ec2.internet_gateways.values())


def _nat_id(answer: Answer) -> str | None:
    start = answer.body.find(b"<natGatewayId>")
    if start < 0:
        return None
    start += len(b"<natGatewayId>")
    return answer.body[start:answer.body.find(b"</natGatewayId>", start)].decode()


@rule
class NatNeedsAttachedIgw(Rule):
    name = "ec2.nat-needs-attached-igw"
    summary = ("a public NAT gateway in a VPC with no attached internet gateway goes to state "
               "failed, FailureCode Gateway.NotAttached, \"Network vpc-... has no Internet "
               "gateway attached\" (after its pending time)")
    source = NAT_SOURCE

    def after(self, call: Call, answer: Answer) -> None:
        if call.service != "ec2" or call.operation != "CreateNatGateway" or answer.status != 200:
            return
        if (call.param("ConnectivityType") or "public") != "public":
            return
        ec2 = backend("ec2", call)
        nat = ec2.nat_gateways.get(_nat_id(answer) or "")
        if nat is None or _attached_igw(ec2, nat.vpc_id):
            return
        # moto's describe renders these; ec2.nat-pending shows it pending first.
        nat.state = "failed"
        nat.failure_code = "Gateway.NotAttached"
        nat.failure_message = f"Network {nat.vpc_id} has no Internet gateway attached"


@rule
class NatPending(Rule):
    name = "ec2.nat-pending"
    summary = (f"a new NAT gateway is pending (here {NAT_PENDING_SECONDS:g} s) before it is "
               "available, or failed with its FailureCode; moto makes it available at once")
    source = "https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-working-with.html"

    def reset(self) -> None:
        self.ready_at: dict[tuple[str, str, str], float] = {}  # (account, region, id) -> time

    def before(self, call: Call) -> None:
        if call.service == "ec2" and call.operation in ("DescribeNatGateways",
                                                        "DeleteNatGateway", "CreateRoute",
                                                        "ReplaceRoute"):
            self._settle(call)

    def after(self, call: Call, answer: Answer) -> None:
        if call.service != "ec2" or call.operation != "CreateNatGateway" or answer.status != 200:
            return
        nat = backend("ec2", call).nat_gateways.get(_nat_id(answer) or "")
        if nat is None:
            return
        with self.lock:
            self.ready_at[(call.account, call.region, nat.id)] = ends_at(NAT_PENDING_SECONDS)
        nat.state = "pending"
        answer.body = answer.body.replace(b"<state>available</state>", b"<state>pending</state>")

    def _settle(self, call: Call) -> None:
        """Pending NAT gateways whose time is over become available, or failed."""
        now, nats = time.monotonic(), backend("ec2", call).nat_gateways
        with self.lock:
            for key, at in list(self.ready_at.items()):
                if key[:2] != (call.account, call.region) or at > now:
                    continue
                del self.ready_at[key]
                nat = nats.get(key[2])
                if nat is not None and nat.state == "pending":
                    nat.state = "failed" if getattr(nat, "failure_code", None) else "available"


# -- internet gateways and deletes of what is in use ---------------------------------------


def _running(instance: Any) -> bool:
    return instance.state not in ("terminated",)


def _instances(ec2: Any) -> list[Any]:
    return [i for r in ec2.reservations.values() for i in r.instances if _running(i)]


def _live_nats(ec2: Any) -> list[Any]:
    return [n for n in ec2.nat_gateways.values() if n.state not in ("deleted", "deleting")]


def _balancers(call: Call) -> list[Any]:
    """The classic load balancers of the call's account and region (their interfaces hold
    subnets, groups and, facing the internet, public addresses)."""
    try:
        return list(backend("elb", call).load_balancers.values())
    except Exception:  # no ELB backend in this moto: nothing to see
        return []


def mapped_public_addresses(ec2: Any, vpc_id: str, balancers: list[Any]) -> list[str]:
    """What maps a public address in the VPC: associated Elastic IPs, NAT gateways, instances
    with a public IP, internet-facing load balancers."""
    found = [n.id for n in _live_nats(ec2) if n.vpc_id == vpc_id
             and n.connectivity_type != "private"]
    found += [b.name for b in balancers if b.vpc_id == vpc_id and b.scheme == "internet-facing"]
    # moto keeps a deleted NAT gateway's address on its interface; AWS releases it.
    released = {n._eni.id for n in ec2.nat_gateways.values() if n.state == "deleted"}
    for address in ec2.addresses:
        eni, instance = getattr(address, "eni", None), getattr(address, "instance", None)
        if (eni is not None and eni.id not in released and eni.subnet.vpc_id == vpc_id) or (
                instance is not None and _running(instance) and instance.vpc_id == vpc_id):
            found.append(address.allocation_id or address.public_ip)
    found += [i.id for i in _instances(ec2) if i.vpc_id == vpc_id and i.public_ip]
    return found


@rule
class IgwDetachMappedAddresses(Rule):
    name = "ec2.igw-detach-mapped-addresses"
    summary = ("DetachInternetGateway while public addresses are mapped in the VPC (associated "
               "Elastic IPs, NAT gateways, instances with public IPs, internet-facing load "
               "balancers) is DependencyViolation")
    source = ("https://docs.aws.amazon.com/vpc/latest/userguide/"
              "VPC_Internet_Gateway.html#detach-igw")

    def before(self, call: Call) -> None:
        if call.service != "ec2" or call.operation != "DetachInternetGateway":
            return
        vpc_id = call.param("VpcId")
        if vpc_id and mapped_public_addresses(backend("ec2", call), vpc_id, _balancers(call)):
            raise Refusal("DependencyViolation",
                          f"Network {vpc_id} has some mapped public address(es). Please unmap "
                          "those public address(es) before detaching the gateway.")


def _live_enis(ec2: Any) -> list[Any]:
    """Interfaces still there: moto keeps a terminated instance's, AWS deletes it."""
    return [eni for eni in ec2.enis.values()
            if getattr(eni, "instance", None) is None or _running(eni.instance)]


def _group_users(ec2: Any, group_id: str, balancers: list[Any]) -> list[str]:
    """What uses a security group: other groups' rules that name it, instances, interfaces,
    load balancers."""
    users = [b.name for b in balancers if group_id in b.security_groups]
    for groups in ec2.groups.values():
        for group in groups.values():
            if group.id == group_id:
                continue
            if any((r.source_group or {}).get("GroupId") == group_id
                   for r in [*group.ingress_rules, *group.egress_rules]):
                users.append(group.id)
    users += [i.id for i in _instances(ec2)
              if any(g.id == group_id for g in getattr(i, "security_groups", []))]
    users += [eni.id for eni in _live_enis(ec2)
              if any(g.id == group_id for g in getattr(eni, "_group_set", []))]
    return users


def _subnet_users(ec2: Any, subnet_id: str, balancers: list[Any]) -> list[str]:
    return ([i.id for i in _instances(ec2) if i.subnet_id == subnet_id]
            + [n.id for n in _live_nats(ec2) if n.subnet_id == subnet_id]
            + [b.name for b in balancers if subnet_id in b.subnets])


def _vpc_users(ec2: Any, vpc_id: str) -> list[str]:
    users = [igw.id for igw in ec2.internet_gateways.values()
             if getattr(igw, "vpc", None) is not None and igw.vpc.id == vpc_id]
    users += [g.id for g in ec2.groups.get(vpc_id, {}).values() if g.name != "default"]
    return users


@rule
class DeleteInUse(Rule):
    name = "ec2.delete-in-use"
    summary = ("DeleteSecurityGroup of a group another group's rule names or an instance, "
               "interface or load balancer uses, DeleteSubnet with instances, NAT gateways or "
               "load balancers in it, DeleteVpc with an attached internet gateway or its own "
               "security groups: DependencyViolation")
    source = "https://docs.aws.amazon.com/vpc/latest/userguide/delete-vpc.html"

    def before(self, call: Call) -> None:
        if call.service != "ec2" or call.operation not in ("DeleteSecurityGroup",
                                                           "DeleteSubnet", "DeleteVpc"):
            return
        ec2 = backend("ec2", call)
        if call.operation == "DeleteSecurityGroup":
            group_id = call.param("GroupId")
            if group_id and _group_users(ec2, group_id, _balancers(call)):
                raise Refusal("DependencyViolation",
                              f"resource {group_id} has a dependent object")
        elif call.operation == "DeleteSubnet":
            subnet_id = call.param("SubnetId")
            if subnet_id and _subnet_users(ec2, subnet_id, _balancers(call)):
                raise Refusal("DependencyViolation", f"The subnet '{subnet_id}' has "
                              "dependencies and cannot be deleted.")
        else:
            vpc_id = call.param("VpcId")
            if vpc_id and _vpc_users(ec2, vpc_id):
                raise Refusal("DependencyViolation", f"The vpc '{vpc_id}' has dependencies "
                              "and cannot be deleted.")

