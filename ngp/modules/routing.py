"""The routing module: marathon-lb (HAProxy fed by Marathon's events) on every public agent,
as the original platform's routing layer, and the platform's host names through it.

marathon-lb is what answers the public agents' balancer (its health check is
`HTTP:9090/_haproxy_health_check`). It routes a request by its Host header to the app whose
`HAPROXY_0_VHOST` label names it, at that task's host port, over the internal security group;
so the apps it routes run anywhere in the cluster. With `domain = "example.com"`:

    api.example.com       the Tyk gateway, public (the public agents' balancer)
    jenkins.example.com   Jenkins, inside only: the VPC and the VPN (an internal balancer)
    registry.example.com  the Docker registry, inside only, for pushes

The definition follows marathon-lb's DC/OS Universe package (mesosphere/universe,
repo/packages/M/marathon-lb/38/config.json and 32/marathon.json.mustache; image from
45/resource.json) and its README (github.com/mesosphere/marathon-lb), in Marathon's current
format (`networks`, `portDefinitions`) instead of the package's legacy `ports`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from ngp.errors import ConfigError
from ngp.graph import Format, Ref, Resource
from ngp.modules.base import Built, ModuleSettings, module
from ngp.modules.marathon_apps import app, app_id

if TYPE_CHECKING:
    from ngp.config import Settings

GROUP = "external"  # marathon-lb's --group; apps join it with the HAPROXY_GROUP label
# Host ports it takes on each public agent: HTTP and HTTPS (the vhosts), its stats and
# health endpoints, and its X-Marathon-App-Id frontend (marathon-lb's README).
PORTS = (("http", 80), ("https", 443), ("stats", 9090), ("appid", 9091))
HEALTH_PATH = "/_haproxy_health_check"


@dataclass(frozen=True)
class Route:
    host: str  # <host>.<domain>
    public: bool  # on the public agents' balancer; else on the internal one only


# The apps it routes, by the module that makes them.
ROUTES = {"api_gateway": Route("api", public=True),
          "jenkins": Route("jenkins", public=False),
          "docker_registry": Route("registry", public=False)}


class RoutingSettings(ModuleSettings):
    image: str = "mesosphere/marathon-lb:v1.15.0"
    # The package recommends 2 CPUs and 1 GiB per instance for heavy traffic.
    cpus: float = Field(1.0, gt=0)
    mem: int = Field(1024, ge=256)
    nodes: int | None = Field(None, ge=1, le=1000)  # with the dcos module: its public agents
    # Marathon as tasks inside DC/OS reach it (the package's default marathon-uri).
    marathon_uri: str = "http://marathon.mesos:8080"


def public_agent_count(settings: Settings, nodes: int | None) -> int:
    """One marathon-lb per public agent: the dcos module's count, else the `nodes` setting."""
    if "dcos" not in settings.modules:
        return nodes or 1
    where = f"{settings.path.name}: [routing] nodes"
    if nodes is not None:
        raise ConfigError("routing.nodes is set, but the dcos module decides how many public "
                          "agents there are", where=where,
                          hint="Remove it: the count follows dcos.public_agents.")
    count = settings.module("dcos").public_agents
    if count < 1:
        raise ConfigError("the routing module runs marathon-lb on the public agents, and "
                          "dcos.public_agents is 0", where=f"{settings.path.name}: [dcos]",
                          hint="Set dcos.public_agents to 1 or more, or turn routing off.")
    return count


def host(settings: Settings, name: str) -> str | None:
    """The host name the module `name`'s app answers at through marathon-lb, or None when it
    is not routed (no routing module, no domain, or an inside-only app on a cluster that is
    not ngp's, where ngp cannot tell inside from outside)."""
    route = ROUTES[name]
    domain = settings.core.domain
    if "routing" not in settings.modules or not domain:
        return None
    if not route.public and "dcos" not in settings.modules:
        return None
    return f"{route.host}.{domain}"


def labels(settings: Settings, name: str) -> dict[str, Any]:
    """The marathon-lb labels of the module `name`'s app (empty when it is not routed).

    An inside-only app admits only requests that come from the private subnets: the
    balancers' TCP listeners do not keep the client's address, so HAProxy sees the address
    of the balancer node that forwarded the request, which is in the private subnets for
    the internal balancer and in the public ones for the public balancer (AWS: "Proxy
    protocol", docs.aws.amazon.com/elasticloadbalancing/latest/classic/
    enable-proxy-protocol.html). A Host header sent to the public balancer gets a
    403 from HAProxy. (HAPROXY_{n}_BACKEND_NETWORK_ALLOWED_ACL: marathon-lb's config.py.)"""
    vhost = host(settings, name)
    if vhost is None:
        return {}
    out: dict[str, Any] = {"HAPROXY_GROUP": GROUP, "HAPROXY_0_VHOST": vhost}
    if not ROUTES[name].public:
        out["HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL"] = private_cidrs(settings)
    return out


def private_cidrs(settings: Settings) -> Format:
    from ngp.modules.network import subnets

    refs = {f"c{i}": Ref(s.address, "cidr") for i, s in enumerate(subnets(settings, "private"))}
    return Format(" ".join(f"{{{key}}}" for key in refs), **refs)


def marathon_lb(settings: Settings, lb: RoutingSettings) -> dict[str, Any]:
    return {
        "id": app_id(settings, "marathon-lb"),
        "instances": public_agent_count(settings, lb.nodes), "cpus": lb.cpus, "mem": lb.mem,
        # One per public agent: it binds fixed host ports, so at most one fits on a node.
        "constraints": [["hostname", "UNIQUE"]], "acceptedResourceRoles": ["slave_public"],
        "container": {"type": "DOCKER",
                      # Privileged, as the package runs it: it sets HAProxy's sysctls.
                      "docker": {"image": lb.image, "privileged": True}},
        "networks": [{"mode": "host"}], "requirePorts": True,
        "portDefinitions": [{"name": name, "port": port, "protocol": "tcp"}
                            for name, port in PORTS],
        # ngp's clusters are DC/OS open (no strict security mode), so marathon-lb reads
        # Marathon's events without a service account; on DC/OS Enterprise in strict mode
        # it would need one (DCOS_SERVICE_ACCOUNT_CREDENTIAL, the package's secret_name).
        "args": ["sse", "-m", lb.marathon_uri, "--health-check", "--haproxy-map",
                 "--group", GROUP],
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": HEALTH_PATH,
                          "portIndex": [p for _, p in PORTS].index(9090),
                          "gracePeriodSeconds": 60, "intervalSeconds": 5, "timeoutSeconds": 2,
                          "maxConsecutiveFailures": 2}],
        # One per node on fixed ports: a new task can only start where the old one stopped,
        # so Marathon's default (start the new, then stop the old) would never finish.
        "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0},
    }


def internal_lb(settings: Settings) -> Resource:
    """The balancer VPN users and the VPC reach marathon-lb through (the public agents' group
    registers its instances with it, as with the public one)."""
    from ngp.modules.dcos import _listeners, elb_name
    from ngp.modules.network import subnets

    return Resource("routing.internal_lb", "elb.load_balancer", {
        "name": elb_name(settings, "apps-int"), "scheme": "internal",
        "subnets": subnets(settings, "private"),
        "security_groups": [Ref("network.sg.internal")], "cross_zone": True,
        "listeners": _listeners((80, "TCP"), (443, "TCP")),
        "health_check": {"target": f"HTTP:9090{HEALTH_PATH}", "interval": 5, "timeout": 2,
                         "healthy": 2, "unhealthy": 2}})


@module("routing", summary="marathon-lb on every public agent: the public agents' balancer's "
        "backend, and api/jenkins/registry.<domain> by host name", settings=RoutingSettings,
        marathon=True)
def build(settings: Settings) -> Built:
    lb: RoutingSettings = settings.module("routing")
    res = [app(settings, "routing.marathon_lb", marathon_lb(settings, lb))]
    if "dcos" not in settings.modules:
        return Built(res)
    res.append(internal_lb(settings))
    outputs: dict[str, Any] = {"apps_internal_lb": Ref("routing.internal_lb", "dns_name")}
    if settings.core.domain:
        # One record per routed name, not a wildcard: only names that answer exist, and
        # each says which balancer (public, or inside only) it is on.
        for name in sorted(ROUTES):
            vhost = host(settings, name)
            if name not in settings.modules or vhost is None:
                continue
            target = "dcos.public_agents_lb" if ROUTES[name].public else "routing.internal_lb"
            res.append(Resource(f"routing.dns.{ROUTES[name].host}", "route53.record", {
                "zone_id": Ref("network.zone"), "name": vhost, "type": "A",
                "alias": {"dns_name": Ref(target, "dns_name"),
                          "zone_id": Ref(target, "zone_id")}}))
    return Built(res, outputs)
