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
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import Field, ValidationInfo, field_validator

from ngp.errors import ConfigError
from ngp.graph import Derived, Format, Ref, Resource
from ngp.marathon.ready import READY_TIMEOUT
from ngp.modules.base import INSTANCE_TYPE, MODULES, Built, ModuleSettings, module
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

# DC/OS 2.2's documented platform: CentOS/RHEL 7 with Docker CE 19.03.5 or 18.09.9 (DC/OS's
# version policy, https://docs.d2iq.com/mesosphere/dcos/version-policy/, "CentOS support
# matrix", CentOS 7.*; 2.2's system requirements point there). CentOS 7 reached its end of life
# on 2024-06-30 and its mirrors are gone: packages come from vault.centos.org's frozen 7.9.2009
# tree, Docker from Docker's CentOS 7 repository, each at a pinned version that is then locked.
CENTOS_VAULT = "https://vault.centos.org/7.9.2009"
DOCKER_REPO = "https://download.docker.com/linux/centos/7/x86_64/stable"
# Not containerd.io 1.2.10-3.2: its kmem bug (DC/OS 2.2, "Installing Docker on CentOS/RHEL").
DOCKER_PACKAGES = ("docker-ce-19.03.5", "docker-ce-cli-19.03.5", "containerd.io-1.2.13")
DOCKER_VERSION = "19.03.5"
# The last AWS CLI v2 known to run on CentOS 7's glibc 2.17 (awslabs/aws-crt-java#833 pins it
# for that reason); the nodes use it to tag themselves and the bootstrap node to fetch an
# installer from S3.
AWSCLI_VERSION = "2.17.51"
INSTALLER_KEY = "installer/dcos_generate_config.sh"
INSTALL_TAG = "ngp:install"  # set to failed:<reason> by a node whose install failed

# What every node runs first: DC/OS's prerequisites on CentOS 7 (SELinux off, overlay,
# Docker, ipset, time sync, the nogroup and docker groups). A missing prerequisite stops the
# script at once (`fail`): why goes to the log and the console, and, where the node's role
# allows it, into the instance's ngp:install tag, which `ngp status` shows.
# Braces are doubled: a template.
PRELUDE = """#!/bin/bash
# ngp: DC/OS {role} of env {env}. Every step is logged to /var/log/ngp-dcos.log.
set -euo pipefail
exec >>/var/log/ngp-dcos.log 2>&1
retry() {{ tries=$1 pause=$2; shift 2
  for _ in $(seq 1 "$tries"); do "$@" && return 0; sleep "$pause"; done; return 1; }}
step() {{ echo "ngp-dcos: $(date -u +%Y-%m-%dT%H:%M:%SZ) $*"; }}
imds() {{ local token
  token=$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" \\
    http://169.254.169.254/latest/api/token) &&
  curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/$1"; }}
fail() {{ trap - ERR
  step "FAILED: $*"
  echo "ngp-dcos: install failed: $*" >/dev/console 2>/dev/null || true
  local reason id region
  reason=$(printf '%s' "$*" | tr -c 'A-Za-z0-9 _.:/+@-' '_' | cut -c1-200)
  if command -v aws >/dev/null && id=$(imds meta-data/instance-id) \\
      && region=$(imds meta-data/placement/region); then
    aws ec2 create-tags --region "$region" --resources "$id" \\
      --tags "Key={install_tag},Value=failed:$reason" || step "could not tag this instance"
  fi
  exit 1; }}
trap 'fail "line $LINENO: $BASH_COMMAND exited $?"' ERR
step "prerequisites"
# shellcheck source=/dev/null
os_id=$(. /etc/os-release && echo "$ID $VERSION_ID") || fail "os: no /etc/os-release"
case "$os_id" in
  "centos 7"*) ;;
  *) fail "os: DC/OS 2.2 nodes here run CentOS 7, this is $os_id" ;;
esac
setenforce 0 || true
sed -i 's/^SELINUX=.*/SELINUX=disabled/' /etc/selinux/config || true
modprobe overlay || fail "overlay: the kernel has no overlay module"
echo overlay >/etc/modules-load.d/overlay.conf
step "packages from {vault} and {docker_repo}"
mkdir -p /etc/yum.repos.d/ngp-unused
for repo in /etc/yum.repos.d/*.repo; do
  if [ -e "$repo" ]; then mv "$repo" /etc/yum.repos.d/ngp-unused/; fi
done
cat >/etc/yum.repos.d/ngp.repo <<'NGP_REPOS'
[base]
name=CentOS 7.9.2009 base (vault)
baseurl={vault}/os/$basearch/
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7
[updates]
name=CentOS 7.9.2009 updates (vault)
baseurl={vault}/updates/$basearch/
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7
[extras]
name=CentOS 7.9.2009 extras (vault)
baseurl={vault}/extras/$basearch/
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7
[docker-ce-stable]
name=Docker CE stable for CentOS 7
baseurl={docker_repo}
gpgcheck=1
gpgkey=https://download.docker.com/linux/centos/gpg
NGP_REPOS
yum clean all || true
retry 10 15 yum install -y yum-plugin-versionlock tar xz unzip curl ipset chrony \\
  || fail "packages: yum could not install the prerequisites from {vault}"
step "aws cli {awscli}"
retry 5 15 curl -fsSL -o /tmp/awscliv2.zip \\
  https://awscli.amazonaws.com/awscli-exe-linux-x86_64-{awscli}.zip \\
  || fail "aws cli: could not download awscli-exe-linux-x86_64-{awscli}.zip"
unzip -qo /tmp/awscliv2.zip -d /tmp/ngp-awscli || fail "aws cli: the download is no zip"
/tmp/ngp-awscli/aws/install --update || fail "aws cli: its installer failed"
step "docker {docker_version}"
mkdir -p /etc/docker
cat >/etc/docker/daemon.json <<'NGP_DOCKER_DAEMON'
{docker_daemon}NGP_DOCKER_DAEMON
retry 10 15 yum install -y {docker_packages} \\
  || fail "docker: yum could not install {docker_packages}"
yum versionlock add docker-ce docker-ce-cli containerd.io \\
  || fail "docker: could not lock its version"
systemctl enable --now docker chronyd || fail "docker: docker or chronyd did not start"
docker_found=$(docker version --format '{{{{.Server.Version}}}}') || fail "docker: not answering"
[ "$docker_found" = "{docker_version}" ] \\
  || fail "docker: $docker_found is running, DC/OS 2.2 is supported on {docker_version}"
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
step "fetch the installer"
{fetch}
{check}
step "generate the install"
bash dcos_generate_config.sh || fail "installer: dcos_generate_config.sh failed"
step "serve genconf/serve on port {port}"
docker rm -f ngp-dcos-bootstrap 2>/dev/null || true
retry 10 15 docker run -d --restart=always --name ngp-dcos-bootstrap -p {port}:80 \\
  -v /opt/dcos/genconf/serve:/usr/share/nginx/html:ro nginx:stable-alpine \\
  || fail "serve: nginx did not start"
step "done: serving {bootstrap_url}"
"""

# How the bootstrap node gets the installer, and how it checks it.
FETCH_S3 = ("retry 5 15 aws s3 cp --region {region} s3://{bucket}/{key} dcos_generate_config.sh"
            " \\\n  || fail \"installer: could not fetch s3://{bucket}/{key}\"")
FETCH_URL = ("retry 5 15 curl -fsSL -o dcos_generate_config.sh {url} \\\n"
             "  || fail \"installer: could not download {url}\"")
CHECK_SHA256 = (
    "echo \"{sha256}  dcos_generate_config.sh\" | sha256sum -c - \\\n"
    "  || fail \"installer: dcos_generate_config.sh has sha256 "
    "$(sha256sum dcos_generate_config.sh | cut -c1-64), not {sha256}\"")
UNCHECKED = 'step "the installer is not checked: set installer and installer_sha256"'

NODE = PRELUDE + """step "wait for {bootstrap_url}/dcos_install.sh (every {poll} s, {tries} times)"
for attempt in $(seq 1 {tries}); do
  curl -fsS -o dcos_install.sh {bootstrap_url}/dcos_install.sh && break
  if [ "$attempt" -eq {tries} ]; then fail "bootstrap: {bootstrap_url} never served"; fi
  sleep {poll}
done
step "install as {install_role}"
bash dcos_install.sh {install_role} || fail "install: dcos_install.sh {install_role} failed"
step "done"
"""


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


def installer_url(dcos: DcosSettings) -> str:
    """Where the bootstrap node downloads the installer from, when it is not a local file."""
    given = dcos.installer or dcos.installer_url
    return given or f"https://downloads.dcos.io/dcos/stable/{dcos.version}/dcos_generate_config.sh"


def installer_file(settings: Settings, dcos: DcosSettings) -> Path | None:
    """The local installer ngp uploads, or None when the bootstrap node downloads one. A
    relative path is the project's (the directory holding envs/)."""
    if not dcos.installer or re.match(r"^https?://", dcos.installer):
        return None
    path = Path(dcos.installer).expanduser()
    root = settings.path.parent.parent
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        where = settings.path.relative_to(root) if settings.path.is_relative_to(root) else (
            settings.path)
        raise ConfigError(f"the installer {str(path)!r} is not a file",
                          where=f"{where}: dcos.installer",
                          hint="Give the path of dcos_generate_config.sh, or its URL "
                          "(README, [dcos]).")
    return path.resolve()


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


def docker_daemon(settings: Settings) -> str:
    """/etc/docker/daemon.json of every node. With the docker_registry module, Docker trusts
    the registry's plain-HTTP address: Docker speaks plain HTTP to no registry but loopback
    unless it is listed in insecure-registries, which takes an address or a CIDR
    (https://docs.docker.com/registry/insecure/, dockerd's "Insecure registries"). The
    registry answers only at its VIP, inside the cluster, which is where agents pull from.
    Mesos's own runtime (UCR) cannot be told the same: it fetches a registry named in an
    image over HTTPS only (apache/mesos registry_puller.cpp), so UCR apps use ECR."""
    daemon: dict[str, Any] = {}
    if "docker_registry" in settings.modules:
        from ngp.modules.docker_registry import VIP

        daemon["insecure-registries"] = [f"{VIP.split(':')[0]}/32"]
    return json.dumps(daemon, indent=2) + "\n"


def _prelude_values(settings: Settings) -> dict[str, Any]:
    return {"env": settings.env, "vault": CENTOS_VAULT, "docker_repo": DOCKER_REPO,
            "docker_packages": " ".join(DOCKER_PACKAGES), "docker_version": DOCKER_VERSION,
            "awscli": AWSCLI_VERSION, "install_tag": INSTALL_TAG,
            "docker_daemon": docker_daemon(settings)}


def fetch_installer(settings: Settings, dcos: DcosSettings) -> str:
    if installer_file(settings, dcos):
        return FETCH_S3.format(region=settings.core.region, key=INSTALLER_KEY,
                               bucket=settings.bucket_name("exhibitor"))
    return FETCH_URL.format(url=installer_url(dcos))


def bootstrap_user_data(settings: Settings, dcos: DcosSettings) -> Format:
    check = (CHECK_SHA256.format(sha256=dcos.installer_sha256) if dcos.installer_sha256
             else UNCHECKED)
    return Format(BOOTSTRAP, role="bootstrap node", **_prelude_values(settings),
                  config_yaml=Derived(config_yaml, cluster_config(settings, dcos)),
                  ip_detect=IP_DETECT, ip_detect_public=IP_DETECT_PUBLIC,
                  fetch=fetch_installer(settings, dcos), check=check,
                  port=dcos.bootstrap_port, bootstrap_url=_bootstrap_url(settings, dcos))


def node_user_data(settings: Settings, dcos: DcosSettings, install_role: str) -> Format:
    tries = dcos.install_wait_minutes * 60 // NODE_POLL_SECONDS
    return Format(NODE, role=install_role, **_prelude_values(settings),
                  install_role=install_role, bootstrap_url=_bootstrap_url(settings, dcos),
                  poll=NODE_POLL_SECONDS, tries=tries)


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
