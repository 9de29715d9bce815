"""The elk module: an OpenSearch domain (Elasticsearch's open fork, as AWS runs it), fed by
Filebeat on every agent with the Mesos logs and every Marathon app's stdout and stderr.

The domain lives in the VPC's private subnets, gated by its own security group, which admits
HTTPS from the platform's machines (`network.sg.internal`), the VPC (VPN users, whom the
OpenVPN Access Server NATs to its address) and `allowed_cidrs` (networks routed into the VPC;
`ngp elk allow-ip <cidr>` adds one). Why not a public domain with an IP policy: the public
agents come and go with changing public addresses no policy lists, so their logs never
arrived, and AWS allows no IP-based policy on a VPC domain (the security group is the gate):
https://docs.aws.amazon.com/opensearch-service/latest/developerguide/vpc.html
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import Field

from ngp.errors import ConfigError
from ngp.graph import Derived, Format, Ref, Resource
from ngp.modules.base import Built, Cidr, ModuleSettings, module
from ngp.modules.marathon_apps import app, app_id, per_node
from ngp.modules.network import subnets
from ngp.resources.opensearch import TIMEOUT

if TYPE_CHECKING:
    from ngp.config import Settings

DOMAIN_NAME = re.compile(r"^[a-z][a-z0-9-]{2,27}$")
# Where Mesos keeps each task's stdout and stderr, and its own logs (DC/OS: --log_dir).
SANDBOXES = "/var/lib/mesos/slave/slaves/*/frameworks/*/executors/*/runs/latest"
APP_LOGS = [f"{SANDBOXES}/stdout", f"{SANDBOXES}/stderr"]
MESOS_LOGS = "/var/log/mesos/*.log"


class ElkSettings(ModuleSettings):
    engine_version: str = Field("OpenSearch_2.11",
                                pattern=r"^(OpenSearch|Elasticsearch)_\d+\.\d+$")
    instance_type: str = Field("t3.small.search", pattern=r"^[a-z0-9]+\.[a-z0-9]+\.search$")
    instance_count: int = Field(1, ge=1, le=40)
    volume_size: int = Field(20, ge=10, le=3072)  # GiB per node, gp3
    allowed_cidrs: list[Cidr] = Field(default_factory=list)
    create_timeout: int = Field(int(TIMEOUT), ge=60, le=14400)  # seconds
    filebeat_image: str = "docker.elastic.co/beats/filebeat-oss:7.10.2"
    nodes: int | None = Field(None, ge=1, le=1000)  # with the dcos module: its agent count


def domain_name(settings: Settings) -> str:
    name = settings.name("elk")
    if not DOMAIN_NAME.match(name):
        raise ConfigError(
            f"the OpenSearch domain name {name!r} is not 3-28 lower-case letters, digits and "
            "hyphens starting with a letter", where=f"{settings.path.name}: name_prefix/"
            "name_suffix", hint="Shorten name_prefix or name_suffix.")
    return name


def access_policy(domain_arn: str) -> dict[str, Any]:
    """HTTP to the domain for whoever its security group lets through: in a VPC the network is
    the gate, and AWS refuses IP conditions there (vpc.html, "About access policies")."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "WhomTheSecurityGroupAdmits", "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": "es:ESHttp*", "Resource": f"{domain_arn}/*"}]}


def domain_subnets(settings: Settings, elk: ElkSettings) -> list[Ref]:
    """One private subnet per zone the domain spans: one node, one zone; more, as many zones
    as there are nodes, up to three and the env's zones. AWS wants an even node count over
    two zones ("You must choose an even number of data nodes for a two Availability Zone
    deployment"), so an odd count with only two zones is refused here, before the create."""
    private = subnets(settings, "private")
    count = min(elk.instance_count, len(private), 3)
    if count == 2 and elk.instance_count % 2:
        raise ConfigError(
            f"{elk.instance_count} OpenSearch nodes cannot spread over the env's 2 zones: "
            "AWS wants an even number of nodes over two zones",
            where=f"{settings.path.name}: [elk] instance_count",
            hint="Make instance_count even, or give the network 3 availability_zones.")
    return private[:count]


def security_group(settings: Settings, elk: ElkSettings) -> Resource:
    """HTTPS (all OpenSearch serves) from the platform's machines, the VPC and allowed_cidrs."""
    def https(source: dict[str, Any], why: str) -> dict[str, Any]:
        return {"protocol": "tcp", "from_port": 443, "to_port": 443, **source,
                "description": why}

    return Resource("elk.sg", "ec2.security_group", {
        "name": settings.name("elk"), "description": "OpenSearch domain: HTTPS from the VPC",
        "vpc_id": Ref("network.vpc"), "ingress": [
            https({"group": Ref("network.sg.internal")}, "DC/OS nodes and the manager"),
            https({"cidr": Ref("network.vpc", "cidr")}, "the VPC: VPN users (NATed)"),
            *[https({"cidr": str(c)}, "allowed_cidrs") for c in elk.allowed_cidrs]]})


def filebeat_yaml(data: dict[str, Any]) -> str:
    env = data["env"]
    config = {
        "filebeat.inputs": [
            {"type": "log", "paths": [f"/host{path}" for path in APP_LOGS],
             "fields": {"ngp_env": env, "source": "marathon-app"}, "fields_under_root": True},
            {"type": "log", "paths": [f"/host{MESOS_LOGS}"],
             "fields": {"ngp_env": env, "source": "mesos"}, "fields_under_root": True}],
        "processors": [{"add_host_metadata": None}],
        "output.elasticsearch": {"hosts": [f"https://{data['endpoint']}:443"],
                                 "index": f"ngp-{env}-%{{+yyyy.MM.dd}}"},
        "setup.template.name": f"ngp-{env}",
        "setup.template.pattern": f"ngp-{env}-*",
        "setup.ilm.enabled": False,
    }
    return yaml.safe_dump(config, sort_keys=False)


@module("elk", summary="an OpenSearch domain (ELK) fed by Filebeat on every agent",
        settings=ElkSettings, marathon=True, needs=("network",))
def build(settings: Settings) -> Built:
    elk: ElkSettings = settings.module("elk")
    name = domain_name(settings)
    account = settings.account
    domain_arn = f"arn:aws:es:{settings.core.region}:{account}:domain/{name}"
    filebeat = {
        "id": app_id(settings, "filebeat"), **per_node(settings, "elk", elk.nodes),
        "cpus": 0.2, "mem": 256,
        "cmd": 'printf "%s\\n" "$FILEBEAT_YML" >/tmp/filebeat.yml && '
               "exec filebeat -e --strict.perms=false -c /tmp/filebeat.yml",
        "env": {"FILEBEAT_YML": Derived(filebeat_yaml, {
            "env": settings.env, "endpoint": Ref("elk.domain", "endpoint")})},
        "container": {"type": "DOCKER", "docker": {"image": elk.filebeat_image},
                      "volumes": [{"containerPath": "/host/var/lib/mesos",
                                   "hostPath": "/var/lib/mesos", "mode": "RO"},
                                  {"containerPath": "/host/var/log/mesos",
                                   "hostPath": "/var/log/mesos", "mode": "RO"}]},
        "networks": [{"mode": "host"}], "portDefinitions": [],
    }
    return Built([
        security_group(settings, elk),
        Resource("elk.domain", "opensearch.domain", {
            "name": name, "engine_version": elk.engine_version,
            "instance_type": elk.instance_type, "instance_count": elk.instance_count,
            "volume_size": elk.volume_size, "timeout": elk.create_timeout,
            "access_policy": access_policy(domain_arn),
            # Filebeat OSS 7.x checks the version the server reports and refuses OpenSearch's
            # unless it says 7.10 (https://docs.opensearch.org/latest/tools, "Agents and
            # ingestion tools"); AWS: AdvancedOptions override_main_response_version "true"
            # (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/
            # rename.html#rename-upgrade).
            "compatibility_mode": True,
            "vpc_id": Ref("network.vpc"), "subnet_ids": domain_subnets(settings, elk),
            "security_group_ids": [Ref("elk.sg")]}),
        app(settings, "elk.filebeat", filebeat),
    ], {
        "elk_endpoint": Format("https://{host}", host=Ref("elk.domain", "endpoint")),
        "elk_dashboards_url": Ref("elk.domain", "dashboards_url"),
    })


def allow_ip(path: Path, address: str) -> tuple[str, bool]:
    """Add an address (or CIDR) to [elk] allowed_cidrs in an env file, keeping its comments
    and layout. Returns the CIDR and whether it was new."""
    import tomlkit

    try:
        cidr = str(ipaddress.IPv4Network(address, strict=True))
    except ValueError as exc:
        raise ConfigError(f"{address!r} is not an IPv4 address or CIDR: {exc}",
                          hint="Give an address like 203.0.113.7 (or 203.0.113.0/24).") from None
    document = tomlkit.parse(path.read_text())
    if "elk" not in document.get("modules", []):
        raise ConfigError("the elk module is not on in this env",
                          where=f"{path.name}: modules", hint='Add "elk" to modules first.')
    table = document.setdefault("elk", tomlkit.table())
    cidrs = table.setdefault("allowed_cidrs", tomlkit.array())
    if cidr in [str(c) for c in cidrs]:
        return cidr, False
    cidrs.append(cidr)
    path.write_text(tomlkit.dumps(document))
    return cidr, True
