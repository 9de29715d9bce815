"""The monitoring module: the Sysdig agent on every node, as Universe's sysdig-cloud package
runs it (privileged, host PID, the host's Docker socket and /proc).

Marathon has no daemon sets: one instance per node with ["hostname", "UNIQUE"], and exactly
as many instances as nodes (more would leave the deployment waiting forever): the dcos
module's agent count, or the `nodes` setting where the cluster is not ngp's. A change
replaces the agents in place (`marathon_apps.per_node`): a moment without monitoring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ngp.graph import Ref, Resource
from ngp.modules.base import Built, ModuleSettings, module
from ngp.modules.marathon_apps import app as marathon_app
from ngp.modules.marathon_apps import app_id, per_node

if TYPE_CHECKING:
    from ngp.config import Settings


class MonitoringSettings(ModuleSettings):
    image: str = "sysdig/agent"
    nodes: int | None = Field(None, ge=1, le=1000)  # with the dcos module: its agent count
    collector: str = "collector.sysdigcloud.com"
    collector_port: int = Field(6666, ge=1, le=65535)
    tags: str = ""


def host_volume(path: str, mode: str = "RO") -> dict[str, str]:
    return {"containerPath": f"/host{path}", "hostPath": path, "mode": mode}


@module("monitoring", summary="the Sysdig agent on every node (access key from "
        "SYSDIG_ACCESS_KEY)", settings=MonitoringSettings, marathon=True,
        required_env=("SYSDIG_ACCESS_KEY",))
def build(settings: Settings) -> Built:
    sysdig: MonitoringSettings = settings.module("monitoring")
    app = {
        "id": app_id(settings, "sysdig-agent"), **per_node(settings, "monitoring", sysdig.nodes),
        "cpus": 0.5, "mem": 512,
        "container": {
            "type": "DOCKER",
            "docker": {"image": sysdig.image, "privileged": True, "parameters": [
                {"key": "pid", "value": "host"}, {"key": "shm-size", "value": "350m"}]},
            "volumes": [
                {"containerPath": "/host/var/run/docker.sock",
                 "hostPath": "/var/run/docker.sock", "mode": "RW"},
                host_volume("/dev", "RW"), host_volume("/proc"), host_volume("/boot"),
                host_volume("/lib/modules"), host_volume("/usr")]},
        "networks": [{"mode": "host"}], "portDefinitions": [],
        "env": {"ACCESS_KEY": {"secret": Ref("monitoring.access_key", "arn")},
                "COLLECTOR": sysdig.collector, "COLLECTOR_PORT": str(sysdig.collector_port),
                "SECURE": "true", "CHECK_CERTIFICATE": "true", "TAGS": sysdig.tags},
        "healthChecks": [{"protocol": "COMMAND", "command": {"value": "exit 0"}}],
    }
    return Built([
        Resource("monitoring.access_key", "secretsmanager.secret", {
            "name": settings.name("sysdig-access-key"), "generate": "env",
            "variable": "SYSDIG_ACCESS_KEY",
            "description": f"ngp {settings.env}: Sysdig access key"}),
        marathon_app(settings, "monitoring.app", app),
    ])
