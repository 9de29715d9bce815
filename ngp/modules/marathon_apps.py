"""What the platform's Marathon apps share: their ids and DC/OS's naming conventions.

An app's id is /<env>/platform/<name>: one group per env, so two envs on one DC/OS cluster
(the sandbox's Marathon, or a shared marathon_url) never share an app id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ngp.errors import ConfigError
from ngp.graph import Resource
from ngp.marathon import rules

if TYPE_CHECKING:
    from ngp.config import Settings

GROUP = "platform"
L4LB = "marathon.l4lb.thisdcos.directory"  # VIP_0 "/name:port" answers at name.<L4LB>:port


def app_id(settings: Settings, name: str) -> str:
    if not rules.SEGMENT.match(settings.env):
        raise ConfigError(f"env {settings.env!r} cannot name a Marathon group",
                          where=f"{settings.path.name}",
                          hint="Marathon ids may not end with '-': use another env name.")
    return f"/{settings.env}/{GROUP}/{name}"


def vip_name(settings: Settings, name: str) -> str:
    """A named virtual address of the env's (<name>-<env>): two envs on one cluster never
    share one, so the L4LB never balances across both envs' tasks."""
    return f"{name}-{settings.env}"


def vip_label(settings: Settings, name: str, port: int) -> str:
    """The VIP_0 label value for it: "/<name>-<env>:<port>"."""
    return f"/{vip_name(settings, name)}:{port}"


def vip_host(settings: Settings, name: str) -> str:
    return f"{vip_name(settings, name)}.{L4LB}"


def mesos_http_check(path: str, grace: int = 300) -> dict:
    return {"protocol": "MESOS_HTTP", "path": path, "portIndex": 0,
            "gracePeriodSeconds": grace, "intervalSeconds": 30, "timeoutSeconds": 10,
            "maxConsecutiveFailures": 3}


def app(settings: Settings, address: str, definition: dict[str, Any],
        after: tuple[str, ...] = ()) -> Resource:
    """A Marathon app of the platform. Where ngp builds the cluster too (the dcos module),
    the app waits for it to answer (dcos.ready), as does every app."""
    gate = ("dcos.ready",) if "dcos" in settings.modules else ()
    return Resource(address, "marathon.app", definition, depends_on=(*after, *gate))


def node_count(settings: Settings, module: str, nodes: int | None) -> int:
    """How many tasks an app that runs on every node needs: one per DC/OS agent (private and
    public) when ngp builds the cluster, else the module's `nodes` setting (1 by default)."""
    if "dcos" not in settings.modules:
        return nodes or 1
    if nodes is not None:
        raise ConfigError(
            f"{module}.nodes is set, but the dcos module decides how many nodes there are",
            where=f"{settings.path.name}: [{module}] nodes",
            hint="Remove it: the count follows dcos.private_agents and dcos.public_agents.")
    from ngp.modules.dcos import agent_count

    return agent_count(settings)
