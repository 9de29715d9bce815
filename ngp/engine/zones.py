"""Choosing the network's Availability Zones: the recorded ones keep their slots."""

from __future__ import annotations

from dataclasses import replace

from ngp.aws import Aws
from ngp.config import Settings
from ngp.errors import NgpError
from ngp.graph import Graph
from ngp.modules import network
from ngp.modules.network import NetworkSettings
from ngp.resources.ec2 import region_zones
from ngp.state import State


def recorded_zones(state: State, net: NetworkSettings) -> dict[int, str]:
    """The zones of the network's subnets the state records, by slot: the subnet's place in
    the network's address plan (public slot i and private slot 8 + i share zone i). A zone
    keeps its slot, so a subnet never moves when others are missing (a run killed before it
    recorded them, whose subnets the next run adopts where they are)."""
    slots = network.subnet_slots(net)
    zones: dict[int, str] = {}
    for address, rec in sorted(state.resources.items()):
        if address.startswith("network.subnet.") and rec.kind == "ec2.subnet" and \
                "az" in rec.outputs and rec.outputs.get("cidr") in slots:
            zones.setdefault(slots[rec.outputs["cidr"]], rec.outputs["az"])
    return zones


def instance_types(graph: Graph) -> set[str]:
    """The instance types the env's machines and templates ask for."""
    return {res.spec["instance_type"] for res in graph.resources.values()
            if res.kind in ("ec2.instance", "ec2.launch_template")
            and isinstance(res.spec.get("instance_type"), str)}


def choose_zones(settings: Settings, aws: Aws, state: State,
                 types: set[str] | frozenset[str] = frozenset()) -> Settings:
    """The settings with the network's zones chosen: the zones the state's subnets are in,
    then the region's that offer every instance type the env uses (read only when more are
    needed, or to check zone_names): a subnet never moves, and a region's missing letters
    and its zones without the env's machines are skipped."""
    if "network" not in settings.modules:
        return settings
    net = settings.module("network")
    if net.existing_vpc_id:
        return settings
    recorded = recorded_zones(state, net)
    where = f"{settings.path.name}: network"
    if net.zone_names:
        if set(net.zone_names) <= set(recorded.values()):
            return settings
        region = region_zones(aws, types)
        for name in net.zone_names:
            if name not in region:
                raise NgpError(f"zone_names: {name!r} is not an Availability Zone of "
                               f"{settings.core.region} that offers "
                               f"{', '.join(sorted(types)) or 'subnets'} "
                               f"(those are {', '.join(region)})",
                               where=f"{where}.zone_names",
                               hint="List zones the region has, or remove zone_names to let "
                               "ngp choose.")
        return settings
    count = net.availability_zones
    if all(slot in recorded for slot in range(count)):
        return replace(settings, zones=tuple(recorded[slot] for slot in range(count)))
    free = [z for z in region_zones(aws, types) if z not in recorded.values()]
    if len(free) < count - sum(slot in recorded for slot in range(count)):
        offering = f" that offer {', '.join(sorted(types))}" if types else ""
        have = sorted(set(recorded.values()) | set(free))
        raise NgpError(f"availability_zones = {count}, but "
                       f"{settings.core.region} has {len(have)} Availability Zones"
                       f"{offering} ({', '.join(have)})", where=f"{where}.availability_zones",
                       hint=f"Set availability_zones to {len(have)} or fewer.")
    free.reverse()
    chosen = [recorded[slot] if slot in recorded else free.pop() for slot in range(count)]
    return replace(settings, zones=tuple(chosen))
