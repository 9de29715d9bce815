"""The manager module (the original platform's IaC-manager): a small instance inside the VPC
from which a team runs ngp, so Marathon and the cluster are reachable without the VPN.

Its user data installs ngp; its role carries exactly the policy `ngp permissions` prints for
the env, so ngp on the manager can do what it needs and nothing more.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import Field

from ngp.graph import Format, Graph, Ref, Resource
from ngp.modules.base import MODULES, Built, ModuleSettings, module
from ngp.modules.network import subnets
from ngp.resources.iam import EC2_TRUST, env_path

if TYPE_CHECKING:
    from ngp.config import Settings

USER_DATA = """#!/bin/bash
# ngp: the manager node of env {env}. Installs ngp; its role gives it ngp's permissions.
set -euo pipefail
exec >>/var/log/ngp-manager.log 2>&1
retry() {{ for _ in $(seq 1 30); do "$@" && return 0; sleep 10; done; return 1; }}
retry dnf install -y python3.11 python3.11-pip git
python3.11 -m venv /opt/ngp
retry /opt/ngp/bin/pip install {package}
ln -sf /opt/ngp/bin/ngp /usr/local/bin/ngp
cat >/etc/profile.d/ngp.sh <<'PROFILE'
export NGP_ENV={env}
export AWS_DEFAULT_REGION={region}
PROFILE
"""


class ManagerSettings(ModuleSettings):
    instance_type: str = Field("t3.micro", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
    image_owners: list[str] = Field(default_factory=lambda: ["137112412989"], min_length=1)
    image_name: str = "al2023-ami-2023.*-kernel-6.1-x86_64"
    image_architecture: str = "x86_64"
    # What pip installs: a release, or your fork, e.g. "git+https://github.com/you/ngp".
    ngp_package: str = Field("ngp", pattern=r"^[A-Za-z0-9_.+:/@=<>~!,\[\]-]+$")
    root_volume_size: int = Field(16, ge=8, le=1024)


@module("manager", summary="a small instance in the VPC with ngp installed and a role "
        "holding exactly ngp's permissions for the env", settings=ManagerSettings,
        needs=("network",))
def build(settings: Settings) -> Built:
    from ngp.permissions import policy, with_boundary

    manager: ManagerSettings = settings.module("manager")
    subnet = subnets(settings, "public")[0]
    res = [
        Resource("manager.image", "ec2.image", {
            "owners": list(manager.image_owners), "name": manager.image_name,
            "architecture": manager.image_architecture}),
        Resource("manager.profile", "iam.instance_profile", {
            "name": settings.name("manager"), "path": env_path(settings.env),
            "role": Ref("manager.role", "name")}),
        Resource("manager.instance", "ec2.instance", {
            "name": settings.name("manager"), "image_id": Ref("manager.image"),
            "root_device_name": Ref("manager.image", "root_device_name"),
            "instance_type": manager.instance_type, "subnet_id": subnet,
            "security_group_ids": [Ref("network.sg.admin"), Ref("network.sg.internal")],
            "key_name": Ref("network.key_pair", "name"),
            "instance_profile": Ref("manager.profile", "arn"),
            "user_data": Format(USER_DATA, env=settings.env, region=settings.core.region,
                                package=manager.ngp_package),
            "root_volume_size": manager.root_volume_size, "root_volume_type": "gp3"}),
    ]
    # The role may do what ngp does for this env: the actions of every kind in the env
    # (its own role and the env's boundary included), but nothing to its own role.
    role = Resource("manager.role", "iam.role", {
        "name": settings.name("manager"), "path": env_path(settings.env),
        "description": "ngp manager node: runs ngp for this env", "trust": EC2_TRUST,
        "policies": {}})
    others = [r for name in settings.modules if name != "manager"
              for r in MODULES[name].build(settings).resources]
    everything = Graph.of(with_boundary(settings, [*others, *res, role]))
    res.append(replace(role, spec={**role.spec, "policies": {"ngp": policy(
        settings, everything, holder_role=settings.name("manager"))}}))
    return Built(res, {
        "manager_private_ip": Ref("manager.instance", "private_ip"),
        "manager_public_ip": Ref("manager.instance", "public_ip")})
