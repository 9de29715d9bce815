"""The ecr module: ECR repositories, and on every agent a Marathon app that keeps a fresh
Docker login for them, since an ECR token lasts 12 hours.

The refresher writes /etc/ngp/docker.tar.gz on each agent (a compressed .docker/config.json,
as DC/OS expects for private registries). An app that pulls from ECR fetches it:

    "fetch": [{"uri": "file:///etc/ngp/docker.tar.gz"}],
    "container": {"type": "DOCKER", "docker": {"image": "<repository uri>:<tag>"}}
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from ngp.graph import Format, Ref, Resource
from ngp.modules.base import Built, ModuleSettings, module
from ngp.modules.marathon_apps import app, app_id, per_node
from ngp.resources.iam import env_path

if TYPE_CHECKING:
    from ngp.config import Settings

REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
DOCKER_CONFIG = "/etc/ngp/docker.tar.gz"  # on every agent

# The refresher's loop (a Marathon cmd, run by /bin/sh in the aws-cli image). Braces doubled.
REFRESH = """set -u
command -v tar >/dev/null || yum install -y -q tar gzip
mkdir -p /host/etc/ngp
while true; do
  if password=$(aws ecr get-login-password --region {region}); then
    auth=$(printf 'AWS:%s' "$password" | base64 | tr -d '\\n')
    rm -rf /tmp/ngp && mkdir -p /tmp/ngp/.docker
    printf '{{"auths":{{"%s":{{"auth":"%s"}}}}}}' {registry} "$auth" >/tmp/ngp/.docker/config.json
    tar czf /host{config}.new -C /tmp/ngp .docker && mv /host{config}.new /host{config}
    echo "ngp-ecr-login: refreshed at $(date -u +%FT%TZ)"
    sleep {seconds}
  else
    echo "ngp-ecr-login: get-login-password failed, again in 60 s"
    sleep 60
  fi
done
"""


class EcrSettings(ModuleSettings):
    repositories: list[str] = Field(default_factory=lambda: ["app"], min_length=1)
    scan_on_push: bool = True
    tag_mutability: Literal["MUTABLE", "IMMUTABLE"] = "MUTABLE"
    keep_images: int = Field(30, ge=1, le=10000)
    refresh_minutes: int = Field(360, ge=5, le=660)  # a token lasts 12 hours
    refresher_image: str = "amazon/aws-cli:2.22.0"
    nodes: int | None = Field(None, ge=1, le=1000)  # with the dcos module: its agent count

    @field_validator("repositories")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not REPOSITORY.match(name):
                raise ValueError(f"{name!r} is not a repository name (lower-case letters, "
                                 "digits, . _ - and /)")
        if len(set(names)) != len(names):
            raise ValueError("a repository is listed twice")
        return names


def repository_name(settings: Settings, name: str) -> str:
    return f"{settings.name()}/{name}"


def address(name: str) -> str:
    return f"ecr.repository[{name}]"


@module("ecr", summary="ECR repositories, and a fresh Docker login for them on every agent",
        settings=EcrSettings, marathon=True, agent_access=True)
def build(settings: Settings) -> Built:
    ecr: EcrSettings = settings.module("ecr")
    res: list[Resource] = [
        Resource(address(name), "ecr.repository", {
            "name": repository_name(settings, name), "tag_mutability": ecr.tag_mutability,
            "scan_on_push": ecr.scan_on_push, "keep_images": ecr.keep_images})
        for name in ecr.repositories]
    arns: list[Any] = [Ref(address(name), "arn") for name in ecr.repositories]
    res.append(Resource("ecr.agent_access", "iam.policy", {
        "name": settings.name("ecr-pull"), "path": env_path(settings.env),
        "description": "Pull from the env's ECR repositories, for the DC/OS agents",
        "document": {"Version": "2012-10-17", "Statement": [
            {"Sid": "Login", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken",
             "Resource": "*"},
            {"Sid": "Pull", "Effect": "Allow", "Resource": arns,
             "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                        "ecr:BatchCheckLayerAvailability"]}]}}))
    registry = Ref(address(ecr.repositories[0]), "registry")
    refresher = {
        "id": app_id(settings, "ecr-login"), **per_node(settings, "ecr", ecr.nodes),
        "cpus": 0.1, "mem": 128,
        "cmd": Format(REFRESH, region=settings.core.region, registry=registry,
                      config=DOCKER_CONFIG, seconds=ecr.refresh_minutes * 60),
        "container": {"type": "DOCKER", "docker": {"image": ecr.refresher_image},
                      "volumes": [{"containerPath": "/host/etc/ngp", "hostPath": "/etc/ngp",
                                   "mode": "RW"}]},
        "networks": [{"mode": "host"}], "portDefinitions": [],
        "healthChecks": [{"protocol": "COMMAND", "gracePeriodSeconds": 300,
                          "command": {"value": f"test -s /host{DOCKER_CONFIG}"}}],
    }
    res.append(app(settings, "ecr.refresher", refresher))
    return Built(res, {
        "ecr_repositories": {name: Ref(address(name), "uri") for name in ecr.repositories},
        "ecr_registry": registry,
        "ecr_docker_config": f"file://{DOCKER_CONFIG}",
    })
