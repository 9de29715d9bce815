"""The manager module (the original platform's IaC-manager): a small instance inside the VPC
from which a team runs ngp, so Marathon and the cluster are reachable without the VPN.

Its user data installs ngp from what the env names and nothing else (the PyPI name `ngp` is
somebody else's project): a git URL pinned to a commit, or a wheel that ngp uploads to the
env's own bucket and whose SHA-256 the manager checks before installing it. Its role carries
exactly the policy `ngp permissions` prints for the env, so ngp on the manager can do what it
needs and nothing more, plus the read of that one wheel.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from ngp.errors import ConfigError
from ngp.graph import Format, Graph, Ref, Resource
from ngp.modules.base import INSTANCE_TYPE, MODULES, Built, ModuleSettings, module
from ngp.modules.network import subnets
from ngp.resources.iam import EC2_TRUST, env_path
from ngp.resources.s3 import file_sha256

if TYPE_CHECKING:
    from ngp.config import Settings

PINNED_GIT = re.compile(r"^git\+https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~-]+)+@[0-9a-f]{40}$")
# {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl (PEP 427), which pip needs.
WHEEL_NAME = re.compile(r"^[A-Za-z0-9_.]+-[A-Za-z0-9_.!+]+(-\d[A-Za-z0-9_.]*)?"
                        r"-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl$")
PACKAGE_FORMS = ("a git URL pinned to a commit (git+https://host/owner/repo@<40-hex sha>) or "
                 "the path of a .whl file")

USER_DATA = """#!/bin/bash
# ngp: the manager node of env {env}. Installs ngp; its role gives it ngp's permissions.
set -euo pipefail
exec >>/var/log/ngp-manager.log 2>&1
trap 'echo "ngp: the manager install FAILED at line $LINENO; see above"' ERR
retry() {{ for _ in $(seq 1 30); do "$@" && return 0; sleep 10; done; echo "ngp: gave up: $*"; \
return 1; }}
retry dnf install -y python3.11 python3.11-pip git awscli-2
python3.11 -m venv /opt/ngp
{install}ln -sf /opt/ngp/bin/ngp /usr/local/bin/ngp
cat >/etc/profile.d/ngp.sh <<'PROFILE'
export NGP_ENV={env}
export AWS_DEFAULT_REGION={region}
export NGP_INSIDE_VPC={vpc}
PROFILE
echo "ngp: the manager is ready"
"""
# A pinned commit: pip clones it with git.
FROM_GIT = "retry /opt/ngp/bin/pip install '{url}'\n"
# A wheel in the env's bucket, read with the manager's role, installed only if its hash is
# the one ngp uploaded.
FROM_WHEEL = """mkdir -p /opt/ngp-package
retry aws s3 cp --only-show-errors --region {region} 's3://{bucket}/{key}' \
'/opt/ngp-package/{file}'
echo '{sha256}  /opt/ngp-package/{file}' | sha256sum --check --strict -
retry /opt/ngp/bin/pip install '/opt/ngp-package/{file}'
"""


def check_package(value: str | None) -> str:
    """The package is pinned: a commit of a git repository, or a wheel file (read at plan)."""
    if value is None:
        raise ValueError(f"required when the manager module is on: {PACKAGE_FORMS}")
    if value.startswith("git+"):
        if not value.startswith("git+https://"):
            raise ValueError("a git URL must be git+https:// (the manager has no SSH key)")
        if "@" not in value.removeprefix("git+https://"):
            raise ValueError("pin a commit: git+https://host/owner/repo@<40-hex sha>")
        ref = value.rsplit("@", 1)[1]
        if not re.fullmatch(r"[0-9a-f]{40}", ref):
            raise ValueError(f"{ref!r} is not a commit's full sha: a branch or tag name "
                             "can move; pin the commit (40 hex digits)")
        if not PINNED_GIT.match(value):
            raise ValueError(f"not a git URL of the form {PACKAGE_FORMS.split(' or ')[0]}")
        return value
    if value.endswith(".whl"):
        if not WHEEL_NAME.match(Path(value).name):
            raise ValueError("not a wheel's file name (name-version-python-abi-platform.whl, "
                             "as `pip wheel` makes it)")
        return value
    raise ValueError(f"neither of {PACKAGE_FORMS}")


class ManagerSettings(ModuleSettings):
    instance_type: str = Field("t3.micro", pattern=INSTANCE_TYPE)
    image_owners: list[str] = Field(default_factory=lambda: ["137112412989"], min_length=1)
    image_name: str = "al2023-ami-2023.*-kernel-6.1-x86_64"
    image_architecture: str = "x86_64"
    # What the manager installs: no default (see check_package).
    ngp_package: str | None = Field(None, validate_default=True)
    root_volume_size: int = Field(16, ge=8, le=1024)

    @field_validator("ngp_package")
    @classmethod
    def _pinned(cls, value: str | None) -> str:
        return check_package(value)

    @property
    def wheel(self) -> bool:
        return str(self.ngp_package).endswith(".whl")


def bucket_name(settings: Settings) -> str:
    """The wheel's bucket: <prefix>-manager-<suffix>-<account id>, a name no other account
    holds."""
    return settings.bucket_name("manager")


@cache
def _sha256(path: Path, size: int, mtime: float) -> str:
    """Read once per run for a file of that size and time (each build of the graph asks)."""
    return file_sha256(str(path))


def wheel_file(settings: Settings, manager: ManagerSettings) -> tuple[Path, str]:
    """The wheel (a relative path is from the project's folder) and its SHA-256 in hex."""
    root = settings.path.parent.parent
    path = Path(str(manager.ngp_package)).expanduser()
    path = path if path.is_absolute() else root / path
    try:
        stat = path.stat()
        if not path.is_file():
            raise IsADirectoryError(21, "not a file")
        return path, _sha256(path, stat.st_size, stat.st_mtime)
    except OSError as exc:
        try:
            where = settings.path.relative_to(root)
        except ValueError:
            where = settings.path
        raise ConfigError(f"cannot read the wheel {path}: {exc.strerror}",
                          where=f"{where}: manager.ngp_package",
                          hint="Build it (pip wheel --no-deps -w dist .) or give a git URL "
                          "pinned to a commit.") from None


def _package(settings: Settings, manager: ManagerSettings) -> tuple[list[Resource], Any, dict]:
    """What installs ngp: the resources it needs, the user data's lines, the role's policies."""
    if not manager.wheel:
        return [], FROM_GIT.format(url=manager.ngp_package), {}
    path, sha256 = wheel_file(settings, manager)
    bucket = bucket_name(settings)
    key = f"packages/{sha256}/{path.name}"
    res = [
        Resource("manager.bucket", "s3.bucket", {"name": bucket, "versioning": True}),
        Resource("manager.package", "s3.object", {
            "bucket": Ref("manager.bucket", "name"), "key": key, "source": str(path),
            "sha256": sha256}),
    ]
    install = Format(FROM_WHEEL, region=settings.core.region, file=path.name, sha256=sha256,
                     bucket=Ref("manager.package", "bucket"), key=Ref("manager.package", "key"))
    read = {"Version": "2012-10-17", "Statement": [{
        "Sid": "ReadNgpPackage", "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{key}"}]}
    return res, install, {"package": read}


@module("manager", summary="a small instance in the VPC with ngp installed and a role "
        "holding exactly ngp's permissions for the env", settings=ManagerSettings,
        needs=("network",), buckets=("manager",))
def build(settings: Settings) -> Built:
    from ngp.permissions import policy, with_boundary

    manager: ManagerSettings = settings.module("manager")
    subnet = subnets(settings, "public")[0]
    package, install, package_policy = _package(settings, manager)
    res = [
        *package,
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
                                vpc=Ref("network.vpc"), install=install),
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
        settings, everything, holder_role=settings.name("manager")), **package_policy}}))
    return Built(res, {
        "manager_private_ip": Ref("manager.instance", "private_ip"),
        "manager_public_ip": Ref("manager.instance", "public_ip")})
