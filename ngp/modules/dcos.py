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

This file is the graph; what the nodes run when they boot (user data, config.yaml, ip-detect,
the installer's source) is ngp/modules/dcos_boot.py.

Example: with `domain = "example.com"`, DC/OS answers at http://dcos.example.com/ and the
public agents (marathon-lb, edge apps) at http://apps.example.com/.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationInfo, field_validator

from ngp.errors import ConfigError
from ngp.graph import Format, Ref, Resource
from ngp.marathon.ready import READY_TIMEOUT
from ngp.modules.base import INSTANCE_TYPE, MODULES, Built, ModuleSettings, module
from ngp.modules.dcos_boot import (
    INSTALL_TAG,
    INSTALLER_KEY,
    MANAGED_KEYS,
    bootstrap_ip,
    bootstrap_user_data,
    installer_file,
    node_user_data,
)
from ngp.modules.network import subnets
from ngp.resources.iam import EC2_TRUST, env_path

if TYPE_CHECKING:
    from ngp.config import Settings

# The counts a cluster may have (init asks within them too): an odd number of masters, so a
# majority survives a lost one.
MASTERS = (1, 3, 5)
PRIVATE_AGENTS = (1, 200)
PUBLIC_AGENTS = (0, 50)
VPC_RESOLVER = "169.254.169.253"
ELB_NAME_MAX = 32


class DcosSettings(ModuleSettings):
    version: str = Field("2.2.0", pattern=r"^\d+\.\d+(\.\d+)?$")
    # The installer: a local file (uploaded to the env's Exhibitor bucket) or an http(s) URL,
    # with its sha256. installer_url is the older name for a URL. Neither: downloads.dcos.io's
    # copy for `version`, unchecked (README, [dcos]).
    installer: str = ""
    installer_url: str = Field("", pattern=r"^(https?://\S+)?$")
    installer_sha256: str = Field("", validate_default=True)
    cluster_name: str = Field("", pattern=r"^[A-Za-z0-9 _.-]*$")  # default: <prefix>-<suffix>
    masters: int = 3
    private_agents: int = Field(2, ge=PRIVATE_AGENTS[0], le=PRIVATE_AGENTS[1])
    public_agents: int = Field(1, ge=PUBLIC_AGENTS[0], le=PUBLIC_AGENTS[1])
    image_owners: list[str] = Field(default_factory=lambda: ["125523088429"], min_length=1)
    # CentOS's own AMIs of 7.9.2009 (https://centos.org/download/aws-images/), deprecated by
    # now: the image lookup asks for deprecated images.
    image_name: str = "CentOS Linux 7 x86_64 - 2009*"
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
        if masters not in MASTERS:
            raise ValueError("must be 1, 3 or 5 (an odd number, so a majority survives a "
                             "lost master)")
        return masters

    @field_validator("installer_url")
    @classmethod
    def _one_installer(cls, url: str, info: ValidationInfo) -> str:
        if url and info.data.get("installer"):
            raise ValueError("installer and installer_url are both set; keep installer")
        return url

    @field_validator("installer_sha256")
    @classmethod
    def _sha256(cls, sha256: str, info: ValidationInfo) -> str:
        installer = info.data.get("installer") or info.data.get("installer_url")
        if installer and not sha256:
            raise ValueError(f"required with installer {installer!r}: the installer's sha256 "
                             "(sha256sum dcos_generate_config.sh)")
        if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("is not a sha256 (64 hex digits, lower case)")
        return sha256

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


def elb_name(settings: Settings, part: str) -> str:
    name = settings.name(part)
    if len(name) > ELB_NAME_MAX:
        raise ConfigError(
            f"the load balancer name {name!r} is longer than AWS's {ELB_NAME_MAX} characters",
            where=f"{settings.path.name}: name_prefix/name_suffix",
            hint="Shorten name_prefix or name_suffix.")
    return name


def _listeners(*ports: tuple[int, str]) -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": port, "instance_protocol": protocol,
             "instance_port": port} for port, protocol in ports]


def _statement(sid: str, actions: list[str], resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def master_policy(bucket: str) -> dict[str, Any]:
    """Exhibitor's bucket, and nothing more (the install report is its own policy)."""
    arn = f"arn:aws:s3:::{bucket}"
    return {"Version": "2012-10-17", "Statement": [
        _statement("ExhibitorBucket", ["s3:ListBucket", "s3:GetBucketLocation"], arn),
        _statement("ExhibitorObjects", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                        "s3:AbortMultipartUpload"], f"{arn}/*")]}


def report_statement(settings: Settings) -> dict[str, Any]:
    """A node may set the ngp:install tag, and no other, on the env's instances. IAM has no
    documented way to say "only itself" for CreateTags (aws:ARN == ${ec2:SourceInstanceARN}
    works but is undocumented, and parliament rejects it): the env's tag bounds it instead."""
    return _statement(
        "ReportInstall", ["ec2:CreateTags"], f"arn:aws:ec2:{settings.core.region}:*:instance/*",
        Condition={"StringEquals": {"aws:ResourceTag/ngp:env": settings.env},
                   "ForAllValues:StringEquals": {"aws:TagKeys": [INSTALL_TAG]}})


def bootstrap_policy(settings: Settings, dcos: DcosSettings) -> dict[str, Any]:
    """The bootstrap node reads the installer ngp uploaded (that object only) and reports."""
    statements = [report_statement(settings)]
    if installer_file(settings, dcos):
        statements.append(_statement(
            "Installer", ["s3:GetObject"],
            f"arn:aws:s3:::{settings.bucket_name('exhibitor')}/{INSTALLER_KEY}"))
    return {"Version": "2012-10-17", "Statement": statements}


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
    report = {"Version": "2012-10-17", "Statement": [report_statement(settings)]}
    installer = installer_file(settings, dcos)

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
            "policies": {"exhibitor": master_policy(bucket), "report": report}}),
        Resource("dcos.master_profile", "iam.instance_profile", {
            "name": settings.name("dcos-master"), "path": path,
            "role": Ref("dcos.master_role", "name")}),
        Resource("dcos.agent_role", "iam.role", {
            "name": settings.name("dcos-agent"), "path": path, "trust": EC2_TRUST,
            "description": "DC/OS agents: EBS volumes, and what the platform's apps use",
            "policies": {"volumes": agent_policy(settings), "report": report},
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
        # The bootstrap node: reads the installer ngp uploaded, if it did, and reports.
        Resource("dcos.bootstrap_role", "iam.role", {
            "name": settings.name("dcos-bootstrap"), "path": path, "trust": EC2_TRUST,
            "description": "DC/OS bootstrap node: the installer in S3, its install report",
            "policies": {"bootstrap": bootstrap_policy(settings, dcos)}}),
        Resource("dcos.bootstrap_profile", "iam.instance_profile", {
            "name": settings.name("dcos-bootstrap"), "path": path,
            "role": Ref("dcos.bootstrap_role", "name")}),
        Resource("dcos.bootstrap", "ec2.instance", {
            **_machine(settings, "dcos-bootstrap", dcos.bootstrap_instance_type,
                       ["internal", "admin"], "bootstrap", dcos.bootstrap_disk_size,
                       bootstrap_user_data(settings, dcos)),
            "subnet_id": private[0], "private_ip": bootstrap_ip(settings)},
            depends_on=("dcos.installer",) if installer else ()),
    ]
    if installer:
        res.append(Resource("dcos.installer", "s3.object", {
            "bucket": Ref("dcos.exhibitor_bucket", "name"), "key": INSTALLER_KEY,
            "source": str(installer), "sha256": dcos.installer_sha256}))
    for i, address in enumerate(masters):
        res.append(Resource(address, "ec2.instance", {
            **_machine(settings, f"dcos-master-{i}", dcos.master_instance_type,
                       ["internal", "admin", "master_lb"], "master", dcos.master_disk_size,
                       node_user_data(settings, dcos, "master")),
            "subnet_id": private[i % len(private)]}, depends_on=("dcos.bootstrap",)))
    for lb in ("masters_lb", "masters_internal_lb"):
        res.append(Resource(f"dcos.{lb}_masters", "elb.attachment", {
            "load_balancer": Ref(f"dcos.{lb}"), "instances": [Ref(m) for m in masters]}))
    # The public agents run marathon-lb (the routing module), which also answers inside
    # the VPC through its own internal balancer.
    public_lbs = [Ref("dcos.public_agents_lb")]
    if "routing" in settings.modules:
        public_lbs.append(Ref("routing.internal_lb"))
    for tier, count, groups, install_role, where, lbs in (
        ("private_agents", dcos.private_agents, ["internal", "admin"], "slave", private, []),
        ("public_agents", dcos.public_agents, ["internal", "admin", "public_agents"],
         "slave_public", public, public_lbs),
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
        "internal_url": Format("http://{host}", host=Ref("dcos.masters_internal_lb",
                                                        "dns_name")),
        "vpc_id": Ref("network.vpc"), "timeout": dcos.ready_timeout},
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
