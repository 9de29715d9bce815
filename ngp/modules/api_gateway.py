"""The api_gateway module: Redis, then the Tyk gateway on the public agents.

With TYK_ORG_ID and TYK_API_KEY set, the gateway runs in Tyk's hybrid mode against Tyk's
cloud (the original platform's way); without them, it runs standalone. Redis is reached at
its VIP, and Tyk depends on it so Redis starts first.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ngp.graph import Ref, Resource
from ngp.modules import routing
from ngp.modules.base import Built, ModuleSettings, module
from ngp.modules.marathon_apps import app, app_id, vip_host, vip_label

if TYPE_CHECKING:
    from ngp.config import Settings


class GatewaySettings(ModuleSettings):
    redis_image: str = "redis:7"
    tyk_image: str = "tykio/tyk-gateway:v5.3"
    instances: int = Field(1, ge=1, le=100)
    listen_port: int = Field(8080, ge=1, le=65535)
    hybrid_connection: str = "hybrid.cloud.tyk.io:9091"


def hybrid() -> bool:
    return bool(os.environ.get("TYK_ORG_ID") and os.environ.get("TYK_API_KEY"))


@module("api_gateway", summary="Redis and the Tyk API gateway on the public agents (Tyk "
        "hybrid mode with TYK_ORG_ID and TYK_API_KEY)", settings=GatewaySettings, marathon=True)
def build(settings: Settings) -> Built:
    gw: GatewaySettings = settings.module("api_gateway")
    redis = {
        "id": app_id(settings, "redis"), "instances": 1, "cpus": 0.5, "mem": 1024, "disk": 2000,
        "container": {"type": "DOCKER", "docker": {"image": gw.redis_image},
                      "portMappings": [{"containerPort": 6379, "hostPort": 0, "name": "redis",
                                        "labels": {"VIP_0": vip_label(settings, "redis", 6379)}}]},
        "networks": [{"mode": "container/bridge"}],
        "healthChecks": [{"protocol": "MESOS_TCP", "portIndex": 0}],
    }
    env: dict[str, Any] = {
        "TYK_GW_STORAGE_TYPE": "redis", "TYK_GW_STORAGE_HOST": vip_host(settings, "redis"),
        "TYK_GW_STORAGE_PORT": "6379", "TYK_GW_LISTENPORT": str(gw.listen_port),
        "TYK_GW_SECRET": {"secret": Ref("api_gateway.tyk_secret", "arn")},
    }
    resources = [Resource("api_gateway.tyk_secret", "secretsmanager.secret", {
        "name": settings.name("tyk-secret"), "generate": "password",
        "description": f"ngp {settings.env}: Tyk gateway API secret"})]
    if hybrid():
        resources.append(Resource("api_gateway.tyk_api_key", "secretsmanager.secret", {
            "name": settings.name("tyk-api-key"), "generate": "env", "variable": "TYK_API_KEY",
            "description": f"ngp {settings.env}: Tyk hybrid API key"}))
        env.update({"TYK_GW_SLAVEOPTIONS_USERPC": "true",
                    "TYK_GW_SLAVEOPTIONS_RPCKEY": os.environ["TYK_ORG_ID"],
                    "TYK_GW_SLAVEOPTIONS_APIKEY": {"secret": Ref("api_gateway.tyk_api_key",
                                                                 "arn")},
                    "TYK_GW_SLAVEOPTIONS_CONNECTIONSTRING": gw.hybrid_connection,
                    "TYK_GW_POLICIES_POLICYSOURCE": "rpc"})
    # Behind marathon-lb (the routing module) Tyk runs on any agent at a port Mesos picks:
    # marathon-lb reaches it there over the internal group. Without it, Tyk holds its port
    # on the public agents.
    vhost = routing.host(settings, "api_gateway")
    placement: dict[str, Any] = {} if vhost else {"acceptedResourceRoles": ["slave_public"]}
    tyk = {
        "id": app_id(settings, "tyk-gateway"), "instances": gw.instances, "cpus": 1, "mem": 1024,
        **placement, "dependencies": [app_id(settings, "redis")],
        "container": {"type": "DOCKER", "docker": {"image": gw.tyk_image},
                      "portMappings": [{"containerPort": gw.listen_port,
                                        "hostPort": 0 if vhost else gw.listen_port,
                                        "name": "http"}]},
        "networks": [{"mode": "container/bridge"}],
        "env": env,
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/hello", "portIndex": 0}],
        "labels": routing.labels(settings, "api_gateway"),
    }
    resources += [app(settings, "api_gateway.redis", redis),
                  app(settings, "api_gateway.tyk", tyk, after=("api_gateway.redis",))]
    outputs: dict[str, Any] = {"api_gateway_port": gw.listen_port,
                               "api_gateway_mode": "hybrid" if hybrid() else "standalone"}
    if vhost:
        outputs["api_gateway_url"] = f"http://{vhost}"
    return Built(resources, outputs)
