"""The dcos module: a DC/OS cluster that installs itself with the advanced installer, laid
out as DC/OS on AWS lays it out (dcos-terraform and Mesosphere's CloudFormation).

Install order, carried by user data alone (no SSH from ngp):
1. The bootstrap node (private subnet, a fixed address) writes genconf/config.yaml and the
   ip-detect scripts, downloads the installer (retried), generates the install and serves
   genconf/serve over HTTP on the bootstrap port.
2. Masters and agents poll the bootstrap node for dcos_install.sh (every 20 s, bounded),
   then install as master, slave or slave_public.
3. `dcos.ready` waits until Admin Router and Marathon answer; every Marathon app depends on it.

Masters find each other through the internal load balancer (master_discovery:
master_http_loadbalancer) and keep Exhibitor's state in S3, so a master can be replaced. The
bootstrap node keeps the same address when it is replaced, so the nodes that install from it
are never replaced with it.

Example: with `domain = "example.com"`, DC/OS answers at http://dcos.example.com/ and the
public agents (marathon-lb, edge apps) at http://apps.example.com/.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import Field, field_validator

from ngp.errors import ConfigError
from ngp.graph import Derived, Format, Ref, Resource
from ngp.marathon.ready import READY_TIMEOUT
from ngp.modules.base import MODULES, Built, ModuleSettings, module
from ngp.modules.network import subnets
from ngp.resources.iam import EC2_TRUST, env_path

if TYPE_CHECKING:
    from ngp.config import Settings

INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"
VPC_RESOLVER = "169.254.169.253"
NODE_POLL_SECONDS = 20  # how often a node asks the bootstrap node for dcos_install.sh
BOOTSTRAP_HOST = 10  # the bootstrap node's address: the 10th of its subnet
ELB_NAME_MAX = 32

# Keys ngp writes into config.yaml itself; `config` may add others, never these.
MANAGED_KEYS = frozenset({
    "bootstrap_url", "cluster_name", "exhibitor_storage_backend", "aws_region", "s3_bucket",
    "s3_prefix", "exhibitor_explicit_keys", "exhibitor_address", "num_masters",
    "master_discovery", "master_external_loadbalancer", "resolvers", "dns_search",
    "ip_detect_contents", "ip_detect_public_contents", "oauth_enabled", "telemetry_enabled",
})

# The node's address from the instance metadata service, with an IMDSv2 token (every
# instance requires one).
IP_DETECT = """#!/usr/bin/env bash
# ngp: this node's private address, from the instance metadata service (IMDSv2).
set -o nounset -o errexit
token=$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" \\
  http://169.254.169.254/latest/api/token)
curl -fsS -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/local-ipv4
"""

IP_DETECT_PUBLIC = """#!/usr/bin/env bash
# ngp: this node's public address (its private one where it has none), from IMDSv2.
set -o nounset -o errexit
token=$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" \\
  http://169.254.169.254/latest/api/token)
meta=http://169.254.169.254/latest/meta-data
curl -fsS -H "X-aws-ec2-metadata-token: $token" $meta/public-ipv4 \\
  || curl -fsS -H "X-aws-ec2-metadata-token: $token" $meta/local-ipv4
"""

# What every node runs first: DC/OS's prerequisites on CentOS/RHEL 7 (SELinux off, overlay,
# Docker, ipset, time sync, the nogroup and docker groups). Braces are doubled: a template.
PRELUDE = """#!/bin/bash
# ngp: DC/OS {role} of env {env}. Every step is logged to /var/log/ngp-dcos.log.
set -euo pipefail
exec >>/var/log/ngp-dcos.log 2>&1
retry() {{ tries=$1 pause=$2; shift 2
  for _ in $(seq 1 "$tries"); do "$@" && return 0; sleep "$pause"; done; return 1; }}
step() {{ echo "ngp-dcos: $(date -u +%Y-%m-%dT%H:%M:%SZ) $*"; }}
step "prerequisites"
setenforce 0 || true
sed -i 's/^SELINUX=.*/SELINUX=disabled/' /etc/selinux/config || true
modprobe overlay && echo overlay >/etc/modules-load.d/overlay.conf
retry 10 15 yum install -y yum-utils tar xz unzip curl ipset chrony
retry 10 15 yum-config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo
retry 10 15 yum install -y docker-ce
systemctl enable --now docker chronyd
getent group nogroup >/dev/null || groupadd nogroup
getent group docker >/dev/null || groupadd docker
mkdir -p /opt/dcos && cd /opt/dcos
"""

BOOTSTRAP = PRELUDE + """step "genconf"
mkdir -p genconf
cat >genconf/config.yaml <<'NGP_CONFIG_YAML'
{config_yaml}NGP_CONFIG_YAML
cat >genconf/ip-detect <<'NGP_IP_DETECT'
{ip_detect}NGP_IP_DETECT
cat >genconf/ip-detect-public <<'NGP_IP_DETECT_PUBLIC'
{ip_detect_public}NGP_IP_DETECT_PUBLIC
chmod 0755 genconf/ip-detect genconf/ip-detect-public
step "download the installer"
retry 5 15 curl -fsSL -o dcos_generate_config.sh {installer_url}
step "generate the install"
bash dcos_generate_config.sh
step "serve genconf/serve on port {port}"
docker rm -f ngp-dcos-bootstrap 2>/dev/null || true
retry 10 15 docker run -d --restart=always --name ngp-dcos-bootstrap -p {port}:80 \\
  -v /opt/dcos/genconf/serve:/usr/share/nginx/html:ro nginx:stable-alpine
step "done: serving {bootstrap_url}"
"""

NODE = PRELUDE + """step "wait for {bootstrap_url}/dcos_install.sh (every {poll} s, {tries} times)"
for attempt in $(seq 1 {tries}); do
  curl -fsS -o dcos_install.sh {bootstrap_url}/dcos_install.sh && break
  if [ "$attempt" -eq {tries} ]; then step "gave up: the bootstrap node never served"; exit 1; fi
  sleep {poll}
done
step "install as {install_role}"
bash dcos_install.sh {install_role}
step "done"
"""


class DcosSettings(ModuleSettings):
    version: str = Field("2.2.0", pattern=r"^\d+\.\d+(\.\d+)?$")
    installer_url: str = Field("", pattern=r"^(https?://\S+)?$")  # default: from version
    cluster_name: str = Field("", pattern=r"^[A-Za-z0-9 _.-]*$")  # default: <prefix>-<suffix>
    masters: int = 3
    private_agents: int = Field(2, ge=1, le=200)
    public_agents: int = Field(1, ge=0, le=50)
    image_owners: list[str] = Field(default_factory=lambda: ["125523088429"], min_length=1)
    image_name: str = "CentOS Linux 7 x86_64*"
    image_architecture: str = "x86_64"
    bootstrap_instance_type: str = Field("t3.medium", pattern=INSTANCE_TYPE)
    master_instance_type: str = Field("m5.xlarge", pattern=INSTANCE_TYPE)
    private_agent_instance_type: str = Field("m5.xlarge", pattern=INSTANCE_TYPE)
    public_agent_instance_type: str = Field("m5.xlarge", pattern=INSTANCE_TYPE)
    bootstrap_disk_size: int = Field(80, ge=20, le=16384)
    master_disk_size: int = Field(120, ge=60, le=16384)
    agent_disk_size: int = Field(120, ge=60, le=16384)
    bootstrap_port: int = Field(8080, ge=1, le=65535)
    resolvers: list[str] = Field(default_factory=lambda: [VPC_RESOLVER], min_length=1)
    dns_search: str = ""  # default: the region's EC2 internal domain
    oauth_enabled: bool = False
    telemetry_enabled: bool = False
    install_wait_minutes: int = Field(60, ge=5, le=600)  # a node's bound on the bootstrap
    ready_timeout: int = Field(int(READY_TIMEOUT), ge=60, le=14400)  # seconds
    config: dict[str, Any] = Field(default_factory=dict)  # more config.yaml keys

    @field_validator("masters")
    @classmethod
    def _odd(cls, masters: int) -> int:
        if masters not in (1, 3, 5):
            raise ValueError("must be 1, 3 or 5 (an odd number, so a majority survives a "
                             "lost master)")
        return masters

    @field_validator("resolvers")
    @classmethod
    def _addresses(cls, resolvers: list[str]) -> list[str]:
        for address in resolvers:
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise ValueError(f"{address!r} is not an IPv4 address") from None
        return resolvers

    @field_validator("config")
    @classmethod
    def _not_managed(cls, config: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(MANAGED_KEYS & config.keys())
        if taken:
            verb = "is" if len(taken) == 1 else "are"
            raise ValueError(f"{', '.join(taken)} {verb} written by ngp from the dcos "
                             "settings; set those instead")
        return config


def agent_count(settings: Settings) -> int:
    """How many agents (private and public) the cluster has: one per node-wide app task."""
    dcos: DcosSettings = settings.module("dcos")
    return dcos.private_agents + dcos.public_agents


def installer_url(dcos: DcosSettings) -> str:
    return dcos.installer_url or (
        f"https://downloads.dcos.io/dcos/stable/{dcos.version}/dcos_generate_config.sh")


def dns_search(settings: Settings, dcos: DcosSettings) -> str:
    region = settings.core.region
    return dcos.dns_search or ("ec2.internal" if region == "us-east-1"
                               else f"{region}.compute.internal")


class _BlockStrings(yaml.SafeDumper):
    """Multi-line strings (the ip-detect scripts) as literal blocks, as DC/OS's docs show."""


_BlockStrings.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def config_yaml(config: dict[str, Any]) -> str:
    return yaml.dump(config, Dumper=_BlockStrings, sort_keys=False, default_flow_style=False)


def bootstrap_address(cidr: str) -> str:
    return str(ipaddress.IPv4Network(cidr)[BOOTSTRAP_HOST])


def elb_name(settings: Settings, part: str) -> str:
    name = settings.name(part)
    if len(name) > ELB_NAME_MAX:
        raise ConfigError(
            f"the load balancer name {name!r} is longer than AWS's {ELB_NAME_MAX} characters",
            where=f"{settings.path.name}: name_prefix/name_suffix",
            hint="Shorten name_prefix or name_suffix.")
    return name


def cluster_config(settings: Settings, dcos: DcosSettings) -> dict[str, Any]:
    """config.yaml as data; Refs and Formats resolve once the addresses exist."""
    return {
        "cluster_name": dcos.cluster_name or settings.name(),
        "bootstrap_url": _bootstrap_url(settings, dcos),
        "exhibitor_storage_backend": "aws_s3",
        "aws_region": settings.core.region,
        "s3_bucket": Ref("dcos.exhibitor_bucket", "name"),
        "s3_prefix": "exhibitor",
        "exhibitor_explicit_keys": False,  # the masters' role, never keys
        "exhibitor_address": Ref("dcos.masters_internal_lb", "dns_name"),
        "num_masters": dcos.masters,
        "master_discovery": "master_http_loadbalancer",
        "master_external_loadbalancer": Ref("dcos.masters_lb", "dns_name"),
        "resolvers": list(dcos.resolvers),
        "dns_search": dns_search(settings, dcos),
        "ip_detect_contents": IP_DETECT,
        "ip_detect_public_contents": IP_DETECT_PUBLIC,
        "oauth_enabled": dcos.oauth_enabled,
        "telemetry_enabled": dcos.telemetry_enabled,
        **dcos.config,
    }


def bootstrap_user_data(settings: Settings, dcos: DcosSettings) -> Format:
    return Format(BOOTSTRAP, role="bootstrap node", env=settings.env,
                  config_yaml=Derived(config_yaml, cluster_config(settings, dcos)),
                  ip_detect=IP_DETECT, ip_detect_public=IP_DETECT_PUBLIC,
                  installer_url=installer_url(dcos), port=dcos.bootstrap_port,
                  bootstrap_url=_bootstrap_url(settings, dcos))


def node_user_data(settings: Settings, dcos: DcosSettings, install_role: str) -> Format:
    tries = dcos.install_wait_minutes * 60 // NODE_POLL_SECONDS
    return Format(NODE, role=install_role, env=settings.env, install_role=install_role,
                  bootstrap_url=_bootstrap_url(settings, dcos), poll=NODE_POLL_SECONDS, tries=tries)


def bootstrap_ip(settings: Settings) -> Derived:
    """The bootstrap node's fixed address, the 10th of the first private subnet: replacing
    the node keeps it, so the nodes that install from it never change."""
    return Derived(bootstrap_address, Ref(subnets(settings, "private")[0].address, "cidr"))


def _bootstrap_url(settings: Settings, dcos: DcosSettings) -> Format:
    return Format("http://{ip}:{port}", ip=bootstrap_ip(settings), port=dcos.bootstrap_port)


def _listeners(*ports: tuple[int, str]) -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": port, "instance_protocol": protocol,
             "instance_port": port} for port, protocol in ports]


def _statement(sid: str, actions: list[str], resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def master_policy(bucket: str) -> dict[str, Any]:
    """Exhibitor's bucket, and nothing more."""
    arn = f"arn:aws:s3:::{bucket}"
    return {"Version": "2012-10-17", "Statement": [
        _statement("ExhibitorBucket", ["s3:ListBucket", "s3:GetBucketLocation"], arn),
        _statement("ExhibitorObjects", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                        "s3:AbortMultipartUpload"], f"{arn}/*")]}


def agent_policy(settings: Settings) -> dict[str, Any]:
    """What DC/OS agents on AWS use: EBS volumes for stateful apps (REX-Ray), in the env's
    region. The public templates' leftovers (soak-cluster buckets, Kubernetes and
    Edge-LB actions for packages this platform does not run) are left out."""
    arn = f"arn:aws:ec2:{settings.core.region}:*"
    return {"Version": "2012-10-17", "Statement": [
        _statement("Describe", ["ec2:DescribeInstances", "ec2:DescribeVolumes",
                                "ec2:DescribeVolumeStatus", "ec2:DescribeVolumeAttribute",
                                "ec2:DescribeSnapshots", "ec2:DescribeTags",
                                "ec2:DescribeAvailabilityZones"], "*"),
        _statement("Volumes", ["ec2:CreateVolume", "ec2:CreateSnapshot", "ec2:CreateTags",
                               "ec2:AttachVolume", "ec2:DetachVolume", "ec2:DeleteVolume",
                               "ec2:DeleteSnapshot"],
                   [f"{arn}:volume/*", f"{arn}:snapshot/*", f"{arn}:instance/*"])]}


def _machine(settings: Settings, name: str, instance_type: str, groups: list[str],
             profile: str | None, disk: int, user_data: Format) -> dict[str, Any]:
    """What a node and an agents' launch template share."""
    return {"name": settings.name(name), "image_id": Ref("dcos.image"),
            "root_device_name": Ref("dcos.image", "root_device_name"),
            "instance_type": instance_type,
            "security_group_ids": [Ref(f"network.sg.{g}") for g in groups],
            "key_name": Ref("network.key_pair", "name"),
            "instance_profile": Ref(f"dcos.{profile}_profile", "arn") if profile else None,
            "user_data": user_data, "root_volume_size": disk, "root_volume_type": "gp3"}


@module("dcos", summary="a DC/OS cluster that installs itself: bootstrap node, masters behind "
        "load balancers, private and public agents in auto-scaling groups",
        settings=DcosSettings, needs=("network",), buckets=("exhibitor",))
def build(settings: Settings) -> Built:
    dcos: DcosSettings = settings.module("dcos")
    private, public = subnets(settings, "private"), subnets(settings, "public")
    domain = settings.core.domain
    bucket = settings.bucket_name("exhibitor")
    path = env_path(settings.env)
    masters = [f"dcos.master[{i}]" for i in range(dcos.masters)]
    names = {part: elb_name(settings, part)
             for part in ("masters", "masters-int", "public-agents")}

    res: list[Resource] = [
        Resource("dcos.image", "ec2.image", {
            "owners": list(dcos.image_owners), "name": dcos.image_name,
            "architecture": dcos.image_architecture}),
        Resource("dcos.exhibitor_bucket", "s3.bucket", {"name": bucket, "versioning": True}),
        # Roles: masters may use Exhibitor's bucket; agents, EBS volumes (and what other
        # modules give them, such as the registry's bucket).
        Resource("dcos.master_role", "iam.role", {
            "name": settings.name("dcos-master"), "path": path, "trust": EC2_TRUST,
            "description": "DC/OS masters: Exhibitor's state in S3",
            "policies": {"exhibitor": master_policy(bucket)}}),
        Resource("dcos.master_profile", "iam.instance_profile", {
            "name": settings.name("dcos-master"), "path": path,
            "role": Ref("dcos.master_role", "name")}),
        Resource("dcos.agent_role", "iam.role", {
            "name": settings.name("dcos-agent"), "path": path, "trust": EC2_TRUST,
            "description": "DC/OS agents: EBS volumes, and what the platform's apps use",
            "policies": {"volumes": agent_policy(settings)},
            "managed_policies": [Ref(f"{name}.agent_access", "arn")
                                 for name in settings.modules if MODULES[name].agent_access]}),
        Resource("dcos.agent_profile", "iam.instance_profile", {
            "name": settings.name("dcos-agent"), "path": path,
            "role": Ref("dcos.agent_role", "name")}),
        # Load balancers as DC/OS on AWS has them.
        Resource("dcos.masters_lb", "elb.load_balancer", {
            "name": names["masters"], "scheme": "internet-facing", "subnets": public,
            "security_groups": [Ref("network.sg.master_lb")], "cross_zone": True,
            "listeners": _listeners((80, "TCP"), (443, "TCP")),
            "health_check": {"target": "TCP:5050", "interval": 30, "timeout": 5,
                             "healthy": 2, "unhealthy": 2}}),
        Resource("dcos.masters_internal_lb", "elb.load_balancer", {
            "name": names["masters-int"], "scheme": "internal", "subnets": private,
            "security_groups": [Ref("network.sg.internal")], "cross_zone": True,
            "listeners": _listeners((5050, "HTTP"), (2181, "TCP"), (8181, "HTTP"), (80, "TCP"),
                                    (443, "TCP"), (8080, "HTTP")),
            "health_check": {"target": "TCP:5050", "interval": 30, "timeout": 5,
                             "healthy": 2, "unhealthy": 2}}),
        Resource("dcos.public_agents_lb", "elb.load_balancer", {
            "name": names["public-agents"], "scheme": "internet-facing", "subnets": public,
            "security_groups": [Ref("network.sg.public_agents")], "cross_zone": True,
            "listeners": _listeners((80, "TCP"), (443, "TCP")),
            "health_check": {"target": "HTTP:9090/_haproxy_health_check", "interval": 5,
                             "timeout": 2, "healthy": 2, "unhealthy": 2}}),
        Resource("dcos.bootstrap", "ec2.instance", {
            **_machine(settings, "dcos-bootstrap", dcos.bootstrap_instance_type,
                       ["internal", "admin"], None, dcos.bootstrap_disk_size,
                       bootstrap_user_data(settings, dcos)),
            "subnet_id": private[0], "private_ip": bootstrap_ip(settings)}),
    ]
    for i, address in enumerate(masters):
        res.append(Resource(address, "ec2.instance", {
            **_machine(settings, f"dcos-master-{i}", dcos.master_instance_type,
                       ["internal", "admin", "master_lb"], "master", dcos.master_disk_size,
                       node_user_data(settings, dcos, "master")),
            "subnet_id": private[i % len(private)]}, depends_on=("dcos.bootstrap",)))
    for lb in ("masters_lb", "masters_internal_lb"):
        res.append(Resource(f"dcos.{lb}_masters", "elb.attachment", {
            "load_balancer": Ref(f"dcos.{lb}"), "instances": [Ref(m) for m in masters]}))
    for tier, count, groups, install_role, where, lbs in (
        ("private_agents", dcos.private_agents, ["internal", "admin"], "slave", private, []),
        ("public_agents", dcos.public_agents, ["internal", "admin", "public_agents"],
         "slave_public", public, [Ref("dcos.public_agents_lb")]),
    ):
        label = tier.replace("_", "-")
        instance_type = (dcos.private_agent_instance_type if tier == "private_agents"
                         else dcos.public_agent_instance_type)
        res.append(Resource(f"dcos.{tier}_template", "ec2.launch_template", _machine(
            settings, f"dcos-{label}", instance_type, groups, "agent",
            dcos.agent_disk_size, node_user_data(settings, dcos, install_role)),
            depends_on=("dcos.bootstrap",)))
        res.append(Resource(f"dcos.{tier}", "autoscaling.group", {
            "name": settings.name(f"dcos-{label}"),
            "launch_template_id": Ref(f"dcos.{tier}_template"),
            "launch_template_version": Ref(f"dcos.{tier}_template", "latest_version"),
            "min_size": count, "max_size": count, "desired_capacity": count,
            "subnet_ids": where, "load_balancer_names": lbs, "health_check_type": "EC2",
            "health_check_grace_period": 600}))
    res.append(Resource("dcos.ready", "marathon.ready", {
        "dcos_url": Format("http://{host}", host=Ref("dcos.masters_lb", "dns_name")),
        "timeout": dcos.ready_timeout},
        depends_on=("dcos.masters_lb_masters", "dcos.masters_internal_lb_masters",
                    "dcos.private_agents", "dcos.public_agents")))

    dcos_url: Any = Format("http://{host}", host=Ref("dcos.masters_lb", "dns_name"))
    apps_url: Any = Format("http://{host}", host=Ref("dcos.public_agents_lb", "dns_name"))
    if domain:
        for record, lb in (("dcos", "masters_lb"), ("apps", "public_agents_lb")):
            res.append(Resource(f"dcos.dns.{record}", "route53.record", {
                "zone_id": Ref("network.zone"), "name": f"{record}.{domain}", "type": "A",
                "alias": {"dns_name": Ref(f"dcos.{lb}", "dns_name"),
                          "zone_id": Ref(f"dcos.{lb}", "zone_id")}}))
        dcos_url, apps_url = f"http://dcos.{domain}", f"http://apps.{domain}"
    return Built(res, {
        "dcos_url": dcos_url,
        "public_agents_url": apps_url,
        "dcos_masters_private_ips": [Ref(m, "private_ip") for m in masters],
        "dcos_bootstrap_ip": Ref("dcos.bootstrap", "private_ip"),
        "dcos_version": Ref("dcos.ready", "dcos_version"),
        "marathon_url": Ref("dcos.ready", "marathon_url"),
    })
