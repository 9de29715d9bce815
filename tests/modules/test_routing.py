"""The routing layer as data: marathon-lb answers the public agents' balancer on every public
agent, the apps users open carry its labels and have names, and Marathon takes the app."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import httpx
import pytest

from ngp.config import Project
from ngp.engine import build_desired
from ngp.errors import ConfigError
from ngp.graph import resolve
from ngp.marathon.app import App, definition

REPO = Path(__file__).resolve().parents[2]
APPS = ["network", "dcos", "routing", "api_gateway", "jenkins", "docker_registry"]
PRIVATE = {"a": "10.0.128.0/20", "b": "10.0.144.0/20", "c": "10.0.160.0/20"}

ENV = """
region = "eu-west-1"
allowed_account_ids = ["123456789012"]
name_suffix = "t"
{domain}
modules = {modules}
{top}

[network]
availability_zones = 3
admin_cidrs = ["203.0.113.0/24"]
{extra}
"""


def load(tmp_path, modules=APPS, domain='domain = "t.example.com"', top="", extra=""):
    (tmp_path / "envs").mkdir(parents=True, exist_ok=True)
    (tmp_path / "envs" / "t.toml").write_text(ENV.format(
        domain=domain, modules=str(list(modules)).replace("'", '"'), top=top,
        extra=textwrap.dedent(extra)))
    return Project(tmp_path).load("t", {})


def fake(ref):
    if ref.output == "cidr" and ref.address.startswith("network.subnet.private["):
        return PRIVATE[ref.address[-2]]
    return f"<{ref.address}.{ref.output}>"


def specs(settings):
    graph = build_desired(settings).graph
    return {a: (r.kind, resolve(r.spec, fake)) for a, r in graph.resources.items()}


def serving(specs, target: str) -> list[dict]:
    """The apps ngp deploys that answer a classic balancer's HTTP health check target
    ("HTTP:9090/_haproxy_health_check") on the node itself: a fixed host port of the node
    (host networking, requirePorts) and a health check of that port and path."""
    port, path = re.fullmatch(r"HTTP:(\d+)(/.*)", target).groups()
    found = []
    for kind, app in specs.values():
        if kind != "marathon.app" or app.get("networks") != [{"mode": "host"}]:
            continue
        ports = [p["port"] for p in app.get("portDefinitions", [])]
        checks = [hc for hc in app.get("healthChecks", [])
                  if hc.get("path") == path and ports[hc.get("portIndex", 0)] == int(port)]
        if app.get("requirePorts") and int(port) in ports and checks:
            found.append(app)
    return found


def test_the_public_agents_balancer_is_answered_on_every_public_agent():
    """The sandbox's whole platform: the public agents' balancer (and the internal one) check
    a port and path that an app ngp deploys serves, once on each public agent."""
    settings = Project(REPO).load("sandbox", {})
    built = specs(settings)
    public_agents = settings.module("dcos").public_agents
    for lb in ("dcos.public_agents_lb", "routing.internal_lb"):
        kind, spec = built.get(lb, (None, {"health_check": {"target": "none"}}))
        target = spec["health_check"]["target"]
        assert target == "HTTP:9090/_haproxy_health_check", lb
        apps = serving(built, target)
        assert len(apps) == 1, lb
        (app,) = apps
        assert app["acceptedResourceRoles"] == ["slave_public"]
        assert app["constraints"] == [["hostname", "UNIQUE"]]
        assert app["instances"] == public_agents
        # The balancers forward 80 and 443 to the node: the same app holds them.
        forwarded = {entry["instance_port"] for entry in spec["listeners"]}
        assert forwarded <= {p["port"] for p in app["portDefinitions"]}
    # Both balancers register the public agents.
    assert built["dcos.public_agents"][1]["load_balancer_names"] == [
        "<dcos.public_agents_lb.id>", "<routing.internal_lb.id>"]


def test_marathon_lb_follows_its_package_and_updates_one_node_at_a_time(tmp_path):
    app = specs(load(tmp_path, extra="[dcos]\npublic_agents = 3\n"))["routing.marathon_lb"][1]
    assert app["instances"] == 3  # follows dcos.public_agents
    assert app["container"]["docker"]["image"] == "mesosphere/marathon-lb:v1.15.0"
    assert app["args"] == ["sse", "-m", "http://marathon.mesos:8080", "--health-check",
                           "--haproxy-map", "--group", "external"]
    assert [p["port"] for p in app["portDefinitions"]] == [80, 443, 9090, 9091]
    assert app["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}


def test_the_definition_ngp_pushes_and_compares_keeps_the_host_ports(tmp_path):
    """ngp applies and diffs an app in its canonical form: fixed host ports stay in it
    (Marathon-assigned ones, without requirePorts, do not)."""
    app = specs(load(tmp_path))["routing.marathon_lb"][1]
    pushed = App().canonical(app)
    assert [p["port"] for p in pushed["portDefinitions"]] == [80, 443, 9090, 9091]
    assigned = App().canonical({**app, "requirePorts": False})
    assert all("port" not in p for p in assigned["portDefinitions"])


def test_apps_users_open_are_routed_by_host_name_with_records(tmp_path):
    built = specs(load(tmp_path))
    labels = {a: built[a][1]["labels"] for a in ("api_gateway.tyk", "jenkins.app",
                                                 "docker_registry.app")}
    assert {a: (v["HAPROXY_GROUP"], v["HAPROXY_0_VHOST"]) for a, v in labels.items()} == {
        "api_gateway.tyk": ("external", "api.t.example.com"),
        "jenkins.app": ("external", "jenkins.t.example.com"),
        "docker_registry.app": ("external", "registry.t.example.com")}
    # Jenkins and the registry answer only what comes in through the private subnets (the
    # internal balancer's nodes), so a Host header sent to the public balancer gets a 403.
    inside = " ".join(PRIVATE.values())
    assert "HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL" not in labels["api_gateway.tyk"]
    assert labels["jenkins.app"]["HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL"] == inside
    assert labels["docker_registry.app"]["HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL"] == inside
    assert labels["jenkins.app"]["MARATHON_SINGLE_INSTANCE_APP"] == "true"

    records = {spec["name"]: spec["alias"]["dns_name"] for kind, spec in built.values()
               if kind == "route53.record"}
    assert records == {
        "dcos.t.example.com": "<dcos.masters_lb.dns_name>",
        "apps.t.example.com": "<dcos.public_agents_lb.dns_name>",
        "api.t.example.com": "<dcos.public_agents_lb.dns_name>",
        "jenkins.t.example.com": "<routing.internal_lb.dns_name>",
        "registry.t.example.com": "<routing.internal_lb.dns_name>"}
    internal = built["routing.internal_lb"][1]
    assert internal["scheme"] == "internal"
    assert internal["security_groups"] == ["<network.sg.internal.id>"]

    # Tyk leaves the public agents and its fixed port 8080 (open in no security group):
    # marathon-lb reaches it at the port Mesos gives it.
    tyk = built["api_gateway.tyk"][1]
    assert tyk["container"]["portMappings"][0]["hostPort"] == 0
    assert "acceptedResourceRoles" not in tyk

    outputs = build_desired(load(tmp_path)).outputs
    assert outputs["api_gateway_url"] == "http://api.t.example.com"
    assert outputs["jenkins_url"] == "http://jenkins.t.example.com"
    assert outputs["registry_url"] == "http://registry.t.example.com"


def test_marathon_lb_reaches_the_apps_over_the_internal_group(tmp_path):
    """It forwards to any task's host port on any agent: every agent is in the internal
    group, which admits everything from its members and the VPC."""
    built = specs(load(tmp_path))
    internal = built["network.sg.internal"][1]["ingress"]
    assert any(r["protocol"] == "-1" and r.get("self") for r in internal)
    for tier in ("private_agents", "public_agents"):
        assert "<network.sg.internal.id>" in built[f"dcos.{tier}_template"][1][
            "security_group_ids"]


def test_without_routing_or_a_domain_nothing_is_routed(tmp_path):
    for case, settings in (
            ("no routing", load(tmp_path / "a", modules=[m for m in APPS if m != "routing"])),
            ("no domain", load(tmp_path / "b", domain=""))):
        built = specs(settings)
        for address in ("api_gateway.tyk", "jenkins.app", "docker_registry.app"):
            assert not any(k.startswith("HAPROXY") for k in built[address][1].get("labels", {}))
        assert not [a for a in built if a.startswith("routing.dns.")], case
    tyk = built["api_gateway.tyk"][1]
    assert tyk["acceptedResourceRoles"] == ["slave_public"]


def test_on_a_cluster_not_ngps_only_the_public_route_is_made(tmp_path):
    settings = load(tmp_path, modules=["routing", "api_gateway", "jenkins"],
                    top='marathon_url = "http://master.example:8080"',
                    extra="[routing]\nnodes = 2\n")
    built = specs(settings)
    assert built["routing.marathon_lb"][1]["instances"] == 2
    assert built["api_gateway.tyk"][1]["labels"]["HAPROXY_0_VHOST"] == "api.t.example.com"
    assert "HAPROXY_GROUP" not in built["jenkins.app"][1]["labels"]
    assert [a for a in built if a.startswith("routing.")] == ["routing.marathon_lb"]


@pytest.mark.parametrize("extra, words", [
    ("[dcos]\npublic_agents = 0\n", "dcos.public_agents is 0"),
    ("[routing]\nnodes = 2\n", "the dcos module decides"),
])
def test_a_count_routing_cannot_follow_is_refused(tmp_path, extra, words):
    with pytest.raises(ConfigError, match=words):
        build_desired(load(tmp_path, extra=extra))


def test_the_local_marathon_takes_marathon_lb_as_marathon_does(local_marathon):
    """The local Marathon checks it against Marathon's own AppDefinition.json
    ($NGP_MARATHON_SCHEMA, which the tests' conftest sets)."""
    assert local_marathon.schema is not None
    app = definition(specs(Project(REPO).load("sandbox", {}))["routing.marathon_lb"][1])
    url = f"{local_marathon.url}/v2/apps{app['id']}"
    response = httpx.put(url, params={"partialUpdate": "false"}, json=app)
    assert response.status_code in (200, 201), response.text
    # A field Marathon does not know (the package's legacy docker.network) is refused.
    legacy = {**app, "id": f"{app['id']}-legacy", "container": {"type": "DOCKER", "docker": {
        **app["container"]["docker"], "network": "HOST", "requirePorts": True}}}
    refused = httpx.put(f"{url}-legacy", params={"partialUpdate": "false"}, json=legacy)
    assert refused.status_code == 422, refused.text
