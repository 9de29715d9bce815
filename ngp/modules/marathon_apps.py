"""What the platform's Marathon apps share: their ids and DC/OS's naming conventions.

An app's id is /<env>/platform/<name>: one group per env, so two envs on one DC/OS cluster
(the sandbox's Marathon, or a shared marathon_url) never share an app id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ngp.errors import ConfigError
from ngp.graph import Resource
from ngp.marathon import rules
from ngp.marathon.endpoints import FIELD, endpoint_of

if TYPE_CHECKING:
    from ngp.config import Settings

GROUP = "platform"
GATE = "dcos.ready"  # the dcos module's marathon.ready
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
    the app is pushed to the endpoint its ready gate gives (dcos.ready), once it answers;
    elsewhere to the env's fixed Marathon (the sandbox's, or marathon_url)."""
    if "dcos" in settings.modules:
        definition = {**definition, FIELD: endpoint_of(GATE)}
    return Resource(address, "marathon.app", definition, depends_on=after)


EVERY_AGENT = ("*", "slave_public")  # the roles of DC/OS's private and public agents
# How a one-per-node app restarts: Marathon's default (minimumHealthCapacity 1,
# maximumOverCapacity 1) starts a new task before it kills an old one, and with one task on
# every node and ["hostname", "UNIQUE"] no node can take it: the deployment never ends
# (d2iq-archive/marathon#689, #1133; docs/docs/deployments.md "Rolling Restarts"). 0/0 kills
# the old tasks first, then starts the new ones on the nodes they freed.
IN_PLACE = {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}


def node_count(settings: Settings, module: str, nodes: int | None,
               roles: tuple[str, ...] = EVERY_AGENT) -> int:
    """How many tasks an app that runs on every node (of the given roles) needs: one per DC/OS
    agent of those roles ("*" private, "slave_public" public) when ngp builds the cluster, else
    the module's `nodes` setting (1 by default)."""
    if "dcos" not in settings.modules:
        return nodes or 1
    if nodes is not None:
        raise ConfigError(
            f"{module}.nodes is set, but the dcos module decides how many nodes there are",
            where=f"{settings.path.name}: [{module}] nodes",
            hint="Remove it: the count follows dcos.private_agents and dcos.public_agents.")
    dcos = settings.module("dcos")
    return (dcos.private_agents if "*" in roles else 0) + \
        (dcos.public_agents if "slave_public" in roles else 0)


def per_node(settings: Settings, module: str, nodes: int | None,
             roles: tuple[str, ...] = EVERY_AGENT) -> dict[str, Any]:
    """The fields of an app that runs one task on every node of the given roles (Marathon has
    no daemon sets): as many instances as nodes, one per hostname, those roles only, and an
    upgrade strategy that can replace them in place. E.g. on the public agents alone:

        {"id": ..., **per_node(settings, "routing", lb.nodes, roles=("slave_public",))}
    """
    return {"instances": node_count(settings, module, nodes, roles),
            "constraints": [["hostname", "UNIQUE"]], "acceptedResourceRoles": list(roles),
            "upgradeStrategy": dict(IN_PLACE)}
