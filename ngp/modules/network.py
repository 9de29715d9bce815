"""The network module (the old IaC-manager part): VPC, subnets over N AZs, internet and NAT
gateways, route tables, and the platform's security groups; or an existing VPC adopted.

Example: with `cidr = "10.0.0.0/16"` and `availability_zones = 3`, public subnets are
10.0.0.0/20, 10.0.16.0/20, 10.0.32.0/20 and private ones 10.0.128.0/20, ... (slot 8 + i),
so adding an AZ never moves an existing subnet.
"""

from __future__ import annotations

import ipaddress
import string
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ngp.graph import Derived, Ref, Resource
from ngp.modules.base import Built, Cidr, ModuleSettings, module

if TYPE_CHECKING:
    from ngp.config import Settings

MAX_AZS = 8  # /+4 gives 16 slots: public subnets take 0-7, private ones 8-15


class NetworkSettings(ModuleSettings):
    cidr: Cidr = ipaddress.IPv4Network("10.0.0.0/16")
    availability_zones: int = Field(3, ge=1, le=MAX_AZS)
    zone_names: list[str] = Field(default_factory=list)
    nat: Literal["single", "per_az", "none"] = "single"
    # Admin ports open to everyone only when said here (and every plan warns).
    open_admin_to_world: bool = False
    admin_cidrs: list[Cidr] = Field(default_factory=list)
    vpn_client_cidrs: list[Cidr] = Field(
        default_factory=lambda: [ipaddress.IPv4Network("0.0.0.0/0")])
    public_agent_cidrs: list[Cidr] = Field(
        default_factory=lambda: [ipaddress.IPv4Network("0.0.0.0/0")])
    existing_vpc_id: str | None = Field(None, pattern=r"^vpc-[0-9a-f]{8,17}$")
    existing_public_subnet_ids: list[str] = Field(default_factory=list)
    existing_private_subnet_ids: list[str] = Field(default_factory=list)

    @field_validator("cidr")
    @classmethod
    def _room_for_subnets(cls, cidr: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= cidr.prefixlen <= 24:
            raise ValueError("the VPC CIDR must be between /16 and /24")
        return cidr

    @field_validator("admin_cidrs")
    @classmethod
    def _not_the_world(cls, cidrs: list[ipaddress.IPv4Network],
                       info: ValidationInfo) -> list[ipaddress.IPv4Network]:
        if any(c.prefixlen == 0 for c in cidrs) and not info.data.get("open_admin_to_world"):
            raise ValueError("0.0.0.0/0 opens ssh, Exhibitor and the DC/OS UI to the world; "
                             "list your addresses, or set open_admin_to_world = true if you "
                             "mean it")
        return cidrs

    @field_validator("existing_public_subnet_ids", "existing_private_subnet_ids")
    @classmethod
    def _subnet_ids(cls, ids: list[str]) -> list[str]:
        for id in ids:
            if not id.startswith("subnet-"):
                raise ValueError(f"{id!r} is not a subnet id (subnet-...)")
        return ids

    @model_validator(mode="after")
    def _consistent(self) -> NetworkSettings:
        if self.zone_names and len(self.zone_names) != self.availability_zones:
            raise ValueError("zone_names must list exactly availability_zones names")
        given = self.existing_public_subnet_ids or self.existing_private_subnet_ids
        if given and not self.existing_vpc_id:
            raise ValueError("existing subnet ids need existing_vpc_id")
        if self.existing_vpc_id and not (self.existing_public_subnet_ids
                                         and self.existing_private_subnet_ids):
            raise ValueError("with existing_vpc_id, list existing_public_subnet_ids and "
                             "existing_private_subnet_ids too")
        return self


def zones(settings: Settings, net: NetworkSettings) -> list[str]:
    """The env's Availability Zones: zone_names, or the first of those the run chose
    (`settings.zones`: the zones the state records first, so no subnet moves, then the
    region's in its order; see engine.choose_zones). A build with none chosen (`ngp graph`
    before a first run) shows `<region>a, b, c, ...`."""
    if net.zone_names:
        return list(net.zone_names)
    if settings.zones is not None:
        return list(settings.zones[: net.availability_zones])
    return [f"{settings.core.region}{letter}"
            for letter in string.ascii_lowercase[: net.availability_zones]]


def subnet_slots(net: NetworkSettings) -> dict[str, int]:
    """Each subnet address of the network's plan, by the zone slot it belongs to: public
    slot i and private slot MAX_AZS + i are both zone i's."""
    slots = net.cidr.subnets(new_prefix=net.cidr.prefixlen + 4)
    return {str(cidr): i % MAX_AZS for i, cidr in enumerate(slots)}


def zone_letter(zone: str) -> str:
    """The letter a zone's resources are addressed by: network.subnet.public[a]."""
    return zone[-1]


def _rule(protocol: str, ports: tuple[int, int], source: dict[str, Any], why: str) -> dict:
    return {"protocol": protocol, "from_port": ports[0], "to_port": ports[1], **source,
            "description": why}


def _tcp(port: int, cidrs: list[Cidr], why: str) -> list[dict]:
    return [_rule("tcp", (port, port), {"cidr": str(c)}, why) for c in cidrs]


def _host(ip: str) -> str:
    return f"{ip}/32"


def _passing(settings: Settings, net: NetworkSettings) -> list[dict]:
    """The env's own addresses that reach the masters' external balancer: the NAT gateways'
    (the private subnets' traffic to a public address leaves through them) and the VPN
    server's (a client whose internet traffic goes through the VPN leaves with it). The
    admin CIDRs alone would keep out the VPN's users and the env's own private machines."""
    sources = [(Ref(f"network.eip.nat[{letter}]", "public_ip"), f"the NAT in {letter}")
               for letter in nat_zones(settings, net)]
    if "openvpn" in settings.modules:
        sources.append((Ref("openvpn.eip", "public_ip"), "the VPN server"))
    return [_rule("tcp", (port, port), {"cidr": Derived(_host, ip)}, f"{why}, {name}")
            for ip, why in sources for port, name in ((80, "http"), (443, "https"))]


def security_groups(settings: Settings, net: NetworkSettings, vpc: Ref) -> list[Resource]:
    """The platform's groups, rules as data (as DC/OS on AWS lays them out)."""
    admin = net.admin_cidrs
    rules: dict[str, tuple[str, list[dict]]] = {
        "admin": ("Administration from the admin CIDRs", [
            *_tcp(22, admin, "ssh"), *_tcp(80, admin, "http"), *_tcp(443, admin, "https"),
            *_tcp(8181, admin, "exhibitor"), *_tcp(9090, admin, "marathon-lb stats"),
            *_tcp(12379, admin, "adminrouter grpc"),
            *[_rule("icmp", (8, -1), {"cidr": str(c)}, "ping") for c in admin]]),
        "internal": ("Everything between the platform's machines", [
            _rule("-1", (-1, -1), {"self": True}, "members"),
            _rule("-1", (-1, -1), {"cidr": Ref("network.vpc", "cidr")}, "the VPC")]),
        "vpn": ("OpenVPN Access Server", [
            *_tcp(443, net.vpn_client_cidrs, "openvpn tcp and web"),
            *_tcp(943, net.vpn_client_cidrs, "openvpn admin web"),
            *[_rule("udp", (1194, 1194), {"cidr": str(c)}, "openvpn udp")
              for c in net.vpn_client_cidrs],
            *_tcp(22, admin, "ssh")]),
        "master_lb": ("DC/OS masters' load balancer", [
            *_tcp(80, admin, "http"), *_tcp(443, admin, "https"), *_passing(settings, net)]),
        "public_agents": ("DC/OS public agents", [
            *_tcp(80, net.public_agent_cidrs, "http"),
            *_tcp(443, net.public_agent_cidrs, "https")]),
    }
    return [
        Resource(f"network.sg.{name}", "ec2.security_group",
                 {"name": settings.name(name.replace("_", "-")), "description": description,
                  "vpc_id": vpc, "ingress": ingress})
        for name, (description, ingress) in rules.items()
    ]


def nat_zones(settings: Settings, net: NetworkSettings) -> list[str]:
    """The AZ letters that have a NAT gateway (none in an adopted VPC)."""
    if net.existing_vpc_id:
        return []
    letters = [zone_letter(az) for az in zones(settings, net)]
    return {"single": letters[:1], "per_az": letters, "none": []}[net.nat]


def subnets(settings: Settings, tier: Literal["public", "private"]) -> list[Ref]:
    """The env's subnets of a tier, in AZ order: made by ngp, or adopted."""
    net: NetworkSettings = settings.module("network")
    if net.existing_vpc_id:
        given = (net.existing_public_subnet_ids if tier == "public"
                 else net.existing_private_subnet_ids)
        return [Ref(f"network.subnet.{tier}[{i}]") for i in range(len(given))]
    return [Ref(f"network.subnet.{tier}[{zone_letter(az)}]") for az in zones(settings, net)]


def open_admin_warning(net: NetworkSettings) -> list[str]:
    if any(c.prefixlen == 0 for c in net.admin_cidrs):
        return ["admin ports (ssh, Exhibitor, marathon-lb stats, the DC/OS UI) are open to "
                "0.0.0.0/0 (open_admin_to_world = true in [network])"]
    return []


def access_resources(settings: Settings) -> tuple[list[Resource], dict[str, Any]]:
    """What every machine of the env shares: its SSH key pair (the user's public key, or one
    ngp generates with the private half kept only in Secrets Manager) and, with a domain,
    the hosted zone its names go in."""
    res: list[Resource] = []
    outputs: dict[str, Any] = {"key_name": Ref("network.key_pair", "name")}
    public_key: Any = settings.ssh_public_key
    if public_key is None:
        res.append(Resource("network.ssh_key", "secretsmanager.secret", {
            "name": settings.name("ssh-key"), "generate": "ssh-ed25519",
            "description": f"ngp {settings.env}: private SSH key of the env's machines"}))
        public_key = Ref("network.ssh_key", "public_key")
        outputs["ssh_private_key"] = {"secret": Ref("network.ssh_key", "arn")}
    res.append(Resource("network.key_pair", "ec2.key_pair",
                        {"name": settings.name(), "public_key": public_key}))
    if settings.core.domain:
        res.append(Resource("network.zone", "route53.zone", {"domain": settings.core.domain}))
    return res, outputs


@module("network", summary="VPC, public and private subnets over N AZs, internet and NAT "
        "gateways, routes, security groups (or an existing VPC)", settings=NetworkSettings)
def build(settings: Settings) -> Built:
    net: NetworkSettings = settings.module("network")
    azs = zones(settings, net)
    letters = [zone_letter(az) for az in azs]
    if net.existing_vpc_id:
        return _adopted(settings, net, letters)

    vpc = Ref("network.vpc")
    res: list[Resource] = [
        Resource("network.vpc", "ec2.vpc", {"name": settings.name("vpc"), "cidr": str(net.cidr),
                                            "dns_support": True, "dns_hostnames": True}),
        Resource("network.igw", "ec2.internet_gateway",
                 {"name": settings.name("igw"), "vpc_id": vpc}),
    ]
    slots = list(net.cidr.subnets(new_prefix=net.cidr.prefixlen + 4))  # see subnet_slots
    for i, (az, letter) in enumerate(zip(azs, letters, strict=True)):
        for tier, slot, public in (("public", i, True), ("private", MAX_AZS + i, False)):
            # What maps public addresses lives in public subnets (NAT gateways, instances
            # with public IPs, their Elastic IPs): made after the gateway is attached, and
            # gone before it is detached, which AWS refuses while addresses are mapped.
            res.append(Resource(f"network.subnet.{tier}[{letter}]", "ec2.subnet", {
                "name": settings.name(tier, letter), "vpc_id": vpc, "cidr": str(slots[slot]),
                "az": az, "public": public}, depends_on=("network.igw",) if public else ()))

    nat_letters = nat_zones(settings, net)
    for letter in nat_letters:
        res.append(Resource(f"network.eip.nat[{letter}]", "ec2.eip",
                            {"name": settings.name("nat", letter)}))
        # A public NAT gateway in a VPC whose internet gateway is not attached yet fails
        # (Gateway.NotAttached, API_NatGateway.html): the gateway's create attaches it.
        res.append(Resource(f"network.nat[{letter}]", "ec2.nat_gateway", {
            "name": settings.name("nat", letter),
            "subnet_id": Ref(f"network.subnet.public[{letter}]"),
            "allocation_id": Ref(f"network.eip.nat[{letter}]")}, depends_on=("network.igw",)))

    res.append(Resource("network.route_table.public", "ec2.route_table", {
        "name": settings.name("public"), "vpc_id": vpc,
        "routes": [{"cidr": "0.0.0.0/0", "gateway_id": Ref("network.igw")}]}))
    for letter in letters:
        res.append(Resource(f"network.route_table_association.public[{letter}]",
                            "ec2.route_table_association", {
                                "subnet_id": Ref(f"network.subnet.public[{letter}]"),
                                "route_table_id": Ref("network.route_table.public")}))
        # Each private subnet leaves through the NAT of its AZ, or the single one.
        nat = letter if letter in nat_letters else (nat_letters[0] if nat_letters else None)
        routes = ([{"cidr": "0.0.0.0/0", "nat_gateway_id": Ref(f"network.nat[{nat}]")}]
                  if nat else [])
        res.append(Resource(f"network.route_table.private[{letter}]", "ec2.route_table", {
            "name": settings.name("private", letter), "vpc_id": vpc, "routes": routes}))
        res.append(Resource(f"network.route_table_association.private[{letter}]",
                            "ec2.route_table_association", {
                                "subnet_id": Ref(f"network.subnet.private[{letter}]"),
                                "route_table_id": Ref(f"network.route_table.private[{letter}]")}))

    res.extend(security_groups(settings, net, vpc))
    access, access_outputs = access_resources(settings)
    res.extend(access)
    outputs: dict[str, Any] = {
        **access_outputs,
        "vpc_id": vpc,
        "public_subnet_ids": [Ref(f"network.subnet.public[{x}]") for x in letters],
        "private_subnet_ids": [Ref(f"network.subnet.private[{x}]") for x in letters],
        "nat_public_ips": [Ref(f"network.eip.nat[{x}]", "public_ip") for x in nat_letters],
    }
    return Built(res, outputs, open_admin_warning(net))


def _adopted(settings: Settings, net: NetworkSettings, letters: list[str]) -> Built:
    """Build in a VPC made by hand: its VPC and subnets are read, never changed."""
    res = [Resource("network.vpc", "ec2.existing_vpc", {"id": net.existing_vpc_id})]
    for tier, ids in (("public", net.existing_public_subnet_ids),
                      ("private", net.existing_private_subnet_ids)):
        for i, id in enumerate(ids):
            res.append(Resource(f"network.subnet.{tier}[{i}]", "ec2.existing_subnet", {"id": id}))
    res.extend(security_groups(settings, net, Ref("network.vpc")))
    access, access_outputs = access_resources(settings)
    res.extend(access)
    outputs = {
        **access_outputs,
        "vpc_id": Ref("network.vpc"),
        "public_subnet_ids": [Ref(f"network.subnet.public[{i}]")
                              for i in range(len(net.existing_public_subnet_ids))],
        "private_subnet_ids": [Ref(f"network.subnet.private[{i}]")
                               for i in range(len(net.existing_private_subnet_ids))],
    }
    return Built(res, outputs, open_admin_warning(net))
