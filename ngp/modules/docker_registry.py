"""The docker_registry module: a private Docker registry (registry:2) on Marathon, storing
images in an S3 bucket, at the virtual IP 192.168.0.1:80 as in the original platform.

The bucket is private, encrypted and TLS-only; the registry reaches it with the agents' role,
through a managed policy that allows that bucket and nothing more (the dcos module attaches it
to the agents' role).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from ngp.graph import Ref, Resource
from ngp.modules import routing
from ngp.modules.base import Built, ModuleSettings, module
from ngp.modules.marathon_apps import app as marathon_app
from ngp.modules.marathon_apps import app_id, mesos_http_check
from ngp.resources.iam import env_path

if TYPE_CHECKING:
    from ngp.config import Settings

VIP = "192.168.0.1:80"


class RegistrySettings(ModuleSettings):
    image: str = "registry:2"
    instances: int = Field(1, ge=1, le=10)
    cpus: float = Field(0.5, gt=0)
    mem: int = Field(512, ge=128)
    root_directory: str = "/docker-registry"


def bucket_name(settings: Settings) -> str:
    return settings.bucket_name("registry")


def agent_statements(settings: Settings) -> list[dict[str, Any]]:
    """What the agents' role must allow for the registry's storage, and nothing more."""
    bucket = f"arn:aws:s3:::{bucket_name(settings)}"
    return [{"Sid": "RegistryBucket", "Effect": "Allow",
             "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
             "Resource": bucket},
            {"Sid": "RegistryObjects", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                        "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
             "Resource": f"{bucket}/*"}]


@module("docker_registry", summary="a private Docker registry on Marathon, stored in S3, at "
        "192.168.0.1:80", settings=RegistrySettings, marathon=True,
        agent_access=True, buckets=("registry",))
def build(settings: Settings) -> Built:
    registry: RegistrySettings = settings.module("docker_registry")
    app = {
        "id": app_id(settings, "registry"), "instances": registry.instances, "cpus": registry.cpus,
        "mem": registry.mem,
        "container": {"type": "DOCKER", "docker": {"image": registry.image},
                      "portMappings": [{"containerPort": 5000, "hostPort": 0, "name": "registry",
                                        "labels": {"VIP_0": VIP}}]},
        "networks": [{"mode": "container/bridge"}],
        "env": {
            "REGISTRY_STORAGE": "s3",
            "REGISTRY_STORAGE_S3_REGION": settings.core.region,
            "REGISTRY_STORAGE_S3_BUCKET": Ref("docker_registry.bucket", "name"),
            "REGISTRY_STORAGE_S3_ROOTDIRECTORY": registry.root_directory,
            "REGISTRY_STORAGE_S3_ENCRYPT": "true",
            # Instances behind one address must share it (distribution's docs).
            "REGISTRY_HTTP_SECRET": {"secret": Ref("docker_registry.http_secret", "arn")},
        },
        "healthChecks": [mesos_http_check("/")],
        "labels": routing.labels(settings, "docker_registry"),
    }
    vhost = routing.host(settings, "docker_registry")
    return Built([
        Resource("docker_registry.bucket", "s3.bucket",
                 {"name": bucket_name(settings), "versioning": False}),
        # The agents run the registry: the dcos module attaches this to their role.
        Resource("docker_registry.agent_access", "iam.policy", {
            "name": settings.name("registry-access"), "path": env_path(settings.env),
            "description": "The registry's storage, for the DC/OS agents",
            "document": {"Version": "2012-10-17", "Statement": agent_statements(settings)}}),
        Resource("docker_registry.http_secret", "secretsmanager.secret", {
            "name": settings.name("registry-http"), "generate": "password",
            "description": f"ngp {settings.env}: the registry's shared HTTP secret"}),
        marathon_app(settings, "docker_registry.app", app),
    ], {"registry": VIP, "registry_bucket": Ref("docker_registry.bucket", "name"),
        "registry_agent_policy": Ref("docker_registry.agent_access", "arn"),
        **({"registry_url": f"http://{vhost}"} if vhost else {})})
