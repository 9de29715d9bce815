"""What the dcos module's nodes run when they boot: their user data (DC/OS's prerequisites on
CentOS 7, then the bootstrap node's genconf and the other nodes' install), the cluster's
config.yaml and ip-detect scripts, and where the installer comes from.

The graph that places these nodes is ngp/modules/dcos.py; tests/modules/test_dcos_scripts.py
runs these scripts in a fake CentOS root.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ngp.errors import ConfigError
from ngp.graph import Derived, Format, Ref
from ngp.modules.network import subnets

if TYPE_CHECKING:
    from ngp.config import Settings
    from ngp.modules.dcos import DcosSettings

NODE_POLL_SECONDS = 20  # how often a node asks the bootstrap node for dcos_install.sh
BOOTSTRAP_HOST = 10  # the bootstrap node's address: the 10th of its subnet

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
