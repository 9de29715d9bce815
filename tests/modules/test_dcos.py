"""The dcos module's cluster as data: config.yaml, the install scripts and their order, the
layout DC/OS on AWS expects, settings validation, and the ready gate against a cluster."""

from __future__ import annotations

import re
import subprocess
import textwrap
import threading

import pytest
import yaml

from ngp.config import Project
from ngp.engine import build_desired
from ngp.errors import ConfigError, NgpError
from ngp.graph import resolve

ENV = """
region = "eu-west-1"
allowed_account_ids = ["123456789012"]
name_suffix = "t"
domain = "t.example.com"
modules = {modules}
{top}

[network]
availability_zones = 3
admin_cidrs = ["203.0.113.0/24"]

[dcos]
{dcos}
"""

PRIVATE_CIDRS = {"a": "10.0.128.0/20", "b": "10.0.144.0/20", "c": "10.0.160.0/20"}


def load(tmp_path, dcos: str = "", modules=("network", "dcos"), extra: str = "", top: str = ""):
    (tmp_path / "envs").mkdir(exist_ok=True)
    text = ENV.format(modules=list(modules).__repr__().replace("'", '"'), top=top,
                      dcos=textwrap.dedent(dcos)) + extra
    (tmp_path / "envs" / "t.toml").write_text(text)
    return Project(tmp_path).load("t", {"TYK_ORG_ID": "o", "SYSDIG_ACCESS_KEY": "k"})


def fake(ref):
    """Stand-in outputs, as AWS would give them."""
    if ref.output == "cidr":
        return PRIVATE_CIDRS[ref.address[-2]]
    if ref.output == "dns_name":
        return f"{ref.address.split('.')[-1].replace('_', '-')}.elb.example"
    return f"<{ref.address}.{ref.output}>"


@pytest.fixture
def graph(tmp_path):
    return build_desired(load(tmp_path)).graph


def spec(graph, address):
    return resolve(graph.resources[address].spec, fake)


def heredoc(script: str, marker: str) -> str:
    return re.search(rf"<<'{marker}'\n(.*?)^{marker}$", script, re.S | re.M).group(1)


def bash_ok(script: str) -> None:
    check = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_config_yaml_has_what_an_aws_install_needs(graph):
    script = spec(graph, "dcos.bootstrap")["user_data"]
    config = yaml.safe_load(heredoc(script, "NGP_CONFIG_YAML"))
    assert config == {
        "cluster_name": "ngp-t",
        "bootstrap_url": "http://10.0.128.10:8080",
        "exhibitor_storage_backend": "aws_s3",
        "aws_region": "eu-west-1",
        "s3_bucket": "<dcos.exhibitor_bucket.name>",
        "s3_prefix": "exhibitor",
        "exhibitor_explicit_keys": False,
        "exhibitor_address": "masters-internal-lb.elb.example",
        "num_masters": 3,
        "master_discovery": "master_http_loadbalancer",
        "master_external_loadbalancer": "masters-lb.elb.example",
        "resolvers": ["169.254.169.253"],
        "dns_search": "eu-west-1.compute.internal",
        "ip_detect_contents": config["ip_detect_contents"],
        "ip_detect_public_contents": config["ip_detect_public_contents"],
        "oauth_enabled": False,
        "telemetry_enabled": False,
    }
    for key in ("ip_detect_contents", "ip_detect_public_contents"):
        detect = config[key]
        # IMDSv2: a token first, then the metadata with it (every instance requires tokens).
        assert detect.index("X-aws-ec2-metadata-token-ttl-seconds") < detect.index(
            "X-aws-ec2-metadata-token: $token")
        assert detect.startswith("#!/usr/bin/env bash\n")
        bash_ok(detect)
    assert config["ip_detect_contents"].rstrip().endswith("meta-data/local-ipv4")
    assert "public-ipv4" in config["ip_detect_public_contents"]
    # The same scripts sit in genconf/ as files.
    assert heredoc(script, "NGP_IP_DETECT") == config["ip_detect_contents"]
    assert heredoc(script, "NGP_IP_DETECT_PUBLIC") == config["ip_detect_public_contents"]


def test_settings_flow_into_config_yaml(tmp_path):
    settings = load(tmp_path, """
        masters = 5
        cluster_name = "Team Cluster"
        resolvers = ["10.0.0.2", "8.8.8.8"]
        dns_search = "corp.example"
        oauth_enabled = true
        bootstrap_port = 8085
        config = { check_time = false, docker_remove_delay = "2hrs" }
    """)
    graph = build_desired(settings).graph
    config = yaml.safe_load(heredoc(spec(graph, "dcos.bootstrap")["user_data"],
                                    "NGP_CONFIG_YAML"))
    assert config["num_masters"] == 5 and config["cluster_name"] == "Team Cluster"
    assert config["resolvers"] == ["10.0.0.2", "8.8.8.8"]
    assert config["dns_search"] == "corp.example" and config["oauth_enabled"] is True
    assert config["bootstrap_url"] == "http://10.0.128.10:8085"
    assert config["check_time"] is False and config["docker_remove_delay"] == "2hrs"
    assert [a for a in graph.resources if a.startswith("dcos.master[")] == [
        f"dcos.master[{i}]" for i in range(5)]


def test_bootstrap_node_generates_then_serves(graph):
    bootstrap = spec(graph, "dcos.bootstrap")
    script = bootstrap["user_data"]
    bash_ok(script)
    steps = ["step \"prerequisites\"", "step \"genconf\"", "step \"fetch the installer\"",
             "step \"generate the install\"", "step \"serve genconf/serve on port 8080\""]
    positions = [script.index(s) for s in steps]
    assert positions == sorted(positions)
    assert ("retry 5 15 curl -fsSL -o dcos_generate_config.sh "
            "https://downloads.dcos.io/dcos/stable/2.2.0/dcos_generate_config.sh \\\n"
            "  || fail") in script
    assert "-p 8080:80 \\\n  -v /opt/dcos/genconf/serve:/usr/share/nginx/html:ro" in script
    # Its address is fixed, so nodes never depend on which machine it is.
    assert bootstrap["private_ip"] == "10.0.128.10"
    assert bootstrap["subnet_id"] == "<network.subnet.private[a].id>"
    # Its role may only report its install (and read an uploaded installer: see below).
    assert bootstrap["instance_profile"] == "<dcos.bootstrap_profile.arn>"
    assert sorted(bootstrap["security_group_ids"]) == [
        "<network.sg.admin.id>", "<network.sg.internal.id>"]


@pytest.mark.parametrize(("address", "role"), [
    ("dcos.master[0]", "master"), ("dcos.private_agents_template", "slave"),
    ("dcos.public_agents_template", "slave_public")])
def test_nodes_wait_for_the_bootstrap_node_then_install(graph, address, role):
    script = spec(graph, address)["user_data"]
    bash_ok(script)
    wait = script.index("curl -fsS -o dcos_install.sh http://10.0.128.10:8080/dcos_install.sh")
    assert script.index("step \"prerequisites\"") < wait < script.index(
        f"bash dcos_install.sh {role} || fail")
    assert "for attempt in $(seq 1 180); do" in script  # 60 minutes, every 20 s
    assert "dcos.bootstrap" in graph.resources[address].depends_on


def _wait_loop(script: str) -> str:
    start = script.index('step "wait for')
    return script[start:script.index('step "install as')]


@pytest.mark.parametrize(("serves_after", "code", "calls"), [(3, 0, 3), (None, 1, 180)])
def test_the_wait_is_bounded(graph, tmp_path, serves_after, code, calls):
    """The node's real wait loop, run by bash, with curl and sleep stood in for."""
    loop = _wait_loop(spec(graph, "dcos.master[1]")["user_data"])
    fake_tools = textwrap.dedent(f"""\
        set -euo pipefail
        step() {{ echo "step: $*"; }}
        fail() {{ echo "failed: $*"; exit 1; }}
        sleep() {{ :; }}
        curl() {{ echo x >>{tmp_path}/calls; n=$(wc -l <{tmp_path}/calls)
                 [ {serves_after or 0} -gt 0 ] && [ "$n" -ge {serves_after or 0} ]; }}
        """)
    run = subprocess.run(["bash", "-c", fake_tools + loop], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == code, run.stdout + run.stderr
    assert len((tmp_path / "calls").read_text().split()) == calls
    if code:
        assert "never served" in run.stdout


def test_layout_as_dcos_on_aws(graph):
    masters = [spec(graph, f"dcos.master[{i}]") for i in range(3)]
    assert [m["subnet_id"] for m in masters] == [
        f"<network.subnet.private[{x}].id>" for x in "abc"]
    groups = {m: sorted(g) for m, g in (
        ("master", masters[0]["security_group_ids"]),
        ("private", spec(graph, "dcos.private_agents_template")["security_group_ids"]),
        ("public", spec(graph, "dcos.public_agents_template")["security_group_ids"]))}
    assert groups == {
        "master": ["<network.sg.admin.id>", "<network.sg.internal.id>",
                   "<network.sg.master_lb.id>"],
        "private": ["<network.sg.admin.id>", "<network.sg.internal.id>"],
        "public": ["<network.sg.admin.id>", "<network.sg.internal.id>",
                   "<network.sg.public_agents.id>"]}
    external, internal, public = (spec(graph, f"dcos.{lb}") for lb in (
        "masters_lb", "masters_internal_lb", "public_agents_lb"))
    assert external["scheme"] == "internet-facing" and internal["scheme"] == "internal"
    assert [x["port"] for x in external["listeners"]] == [80, 443]
    assert sorted(x["port"] for x in internal["listeners"]) == [80, 443, 2181, 5050, 8080, 8181]
    assert external["health_check"]["target"] == internal["health_check"]["target"] == "TCP:5050"
    assert public["health_check"]["target"] == "HTTP:9090/_haproxy_health_check"
    for lb in ("masters_lb", "masters_internal_lb"):
        assert spec(graph, f"dcos.{lb}_masters")["instances"] == [
            f"<dcos.master[{i}].id>" for i in range(3)]
    private_group, public_group = spec(graph, "dcos.private_agents"), spec(
        graph, "dcos.public_agents")
    assert (private_group["min_size"], private_group["max_size"]) == (2, 2)
    assert public_group["load_balancer_names"] == ["<dcos.public_agents_lb.id>"]
    assert private_group["subnet_ids"] == [f"<network.subnet.private[{x}].id>" for x in "abc"]
    assert public_group["subnet_ids"] == [f"<network.subnet.public[{x}].id>" for x in "abc"]
    exhibitor = spec(graph, "dcos.exhibitor_bucket")
    assert exhibitor == {"name": "ngp-exhibitor-t-123456789012", "versioning": True}
    records = {spec(graph, a)["name"]: spec(graph, a)["alias"]["dns_name"]
               for a in ("dcos.dns.dcos", "dcos.dns.apps")}
    assert records == {"dcos.t.example.com": "masters-lb.elb.example",
                       "apps.t.example.com": "public-agents-lb.elb.example"}


def test_masters_may_use_exhibitors_bucket_and_nothing_more(graph):
    statements = spec(graph, "dcos.master_role")["policies"]["exhibitor"]["Statement"]
    assert {r for s in statements for r in [s["Resource"]]} == {
        "arn:aws:s3:::ngp-exhibitor-t-123456789012", "arn:aws:s3:::ngp-exhibitor-t-123456789012/*"}
    agent = spec(graph, "dcos.agent_role")
    assert agent["managed_policies"] == []
    assert "soak" not in str(agent["policies"])


def test_app_modules_wait_for_the_cluster_and_count_its_agents(tmp_path):
    from ngp.marathon.endpoints import endpoint_of

    settings = load(tmp_path, "private_agents = 4\npublic_agents = 2", modules=(
        "network", "dcos", "docker_registry", "monitoring", "jenkins"))
    graph = build_desired(settings).graph
    apps = [r for r in graph.resources.values() if r.kind == "marathon.app"]
    assert len(apps) == 3 and all("dcos.ready" in r.deps() for r in apps)
    # Each is pushed to the Marathon the gate gives: its endpoint is an input, not a client.
    assert all(r.spec["marathon"] == endpoint_of("dcos.ready") for r in apps)
    assert graph.resources["monitoring.app"].spec["instances"] == 6
    assert spec(graph, "dcos.agent_role")["managed_policies"] == [
        "<docker_registry.agent_access.arn>"]
    ready = graph.resources["dcos.ready"]
    assert {"dcos.private_agents", "dcos.public_agents", "dcos.masters_lb_masters"} <= set(
        ready.depends_on)


def test_app_modules_without_the_cluster_keep_their_own_count(tmp_path):
    settings = load(tmp_path, modules=("network", "monitoring"),
                    top='marathon_url = "https://dcos.example.com/service/marathon"')
    graph = build_desired(settings).graph
    assert graph.resources["monitoring.app"].spec["instances"] == 1
    assert graph.resources["monitoring.app"].depends_on == ()


@pytest.mark.parametrize(("dcos", "modules", "message"), [
    ("masters = 2", None, r"masters: .*must be 1, 3 or 5"),
    ("masters = 4", None, r"masters: .*must be 1, 3 or 5"),
    ("private_agents = 0", None, r"private_agents"),
    ("config = { num_masters = 7 }", None, r"num_masters is written by ngp"),
    ("resolvers = [\"dns.example\"]", None, r"not an IPv4 address"),
    ("installer_url = \"ftp://x\"", None, r"installer_url"),
])
def test_bad_settings_are_one_clear_error(tmp_path, dcos, modules, message):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, dcos)
    line = f"{exc.value.where}: {exc.value}"
    assert re.search(message, line), line
    assert line.startswith("envs/t.toml: dcos.")


def test_a_node_count_set_beside_the_cluster_is_refused(tmp_path):
    settings = load(tmp_path, modules=("network", "dcos", "monitoring"),
                    extra="\n[monitoring]\nnodes = 3\n")
    with pytest.raises(ConfigError, match=r"monitoring.nodes is set"):
        build_desired(settings)


def test_load_balancer_names_longer_than_aws_allows_are_refused(tmp_path):
    load(tmp_path)
    (tmp_path / "envs" / "t.toml").write_text(
        (tmp_path / "envs" / "t.toml").read_text().replace(
            'name_suffix = "t"', 'name_suffix = "a-very-long-suffix"'))
    with pytest.raises(ConfigError, match=r"longer than AWS's 32 characters"):
        build_desired(Project(tmp_path).load("t", {}))


# -- the ready gate against a cluster: Admin Router in front of Marathon -------------------


@pytest.fixture
def cluster(local_marathon):
    """A stand-in DC/OS: Admin Router's public metadata (answering 502 until told the
    cluster is up) and Marathon under /service/marathon."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    state = {"up_after": 3, "asked": 0}

    @Request.application
    def router(request):
        if request.path == "/dcos-metadata/dcos-version.json":
            state["asked"] += 1
            if state["asked"] >= state["up_after"]:
                return Response('{"version": "2.2.0"}', mimetype="application/json")
        return Response("<html>502 Bad Gateway</html>", status=502)

    app = DispatcherMiddleware(router, {"/service/marathon": local_marathon})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    thread.join(timeout=10)


def test_gate_waits_for_admin_router_then_gives_the_clusters_marathon(cluster, aws):
    from ngp.marathon.endpoints import Marathons, reachable
    from ngp.resources import Context, get_kind

    url, state = cluster
    marathons = Marathons(poll=0.02)  # the env's own cluster: no address until it answers
    ctx = Context(aws=aws, env="t", lineage="l", marathons=marathons)
    try:
        id, outputs = get_kind("marathon.ready").create(ctx, "dcos.ready",
                                                        {"dcos_url": url, "timeout": 30})
        assert state["asked"] == 3  # waited through two 502s
        assert outputs == {"id": url, "dcos_url": url, "marathon_url": f"{url}/service/marathon",
                           "internal_url": "", "vpc_id": "",
                           "dcos_version": "2.2.0", "marathon_version": "1.11.23"}
        assert marathons.at(outputs).list_apps() == []  # through the cluster's Admin Router
        assert marathons.urls() == [reachable(outputs)] == [f"{url}/service/marathon"]
    finally:
        marathons.close()


def test_inside_the_vpc_the_gate_goes_through_the_internal_balancer(cluster, aws,
                                                                      monkeypatch):
    """On the manager node ($NGP_INSIDE_VPC is its VPC) the external balancer, which admits
    only the admin CIDRs and the env's own public addresses, is not asked: the internal one
    is. The outputs keep the external URL, which is what users open."""
    from ngp.marathon.endpoints import INSIDE_VPC, Marathons, recorded_endpoint
    from ngp.resources import Context, get_kind
    from ngp.state import Recorded, State

    internal, _ = cluster
    external = "http://127.0.0.1:9"  # nothing answers there
    spec = {"dcos_url": external, "internal_url": internal, "vpc_id": "vpc-0123456789abcdef0",
            "timeout": 30}
    monkeypatch.setenv(INSIDE_VPC, "vpc-0123456789abcdef0")
    marathons = Marathons(poll=0.02)
    try:
        id, outputs = get_kind("marathon.ready").create(
            Context(aws=aws, env="t", lineage="l", marathons=marathons), "dcos.ready", spec)
        assert marathons.urls() == [f"{internal}/service/marathon"]
        assert (id, outputs["dcos_url"], outputs["marathon_url"]) == (
            external, external, f"{external}/service/marathon")
        # A later run on the manager reaches the recorded cluster the same way.
        state = State(env="t")
        state.resources["dcos.ready"] = Recorded("marathon.ready", id, spec, outputs)
        later = marathons.at(recorded_endpoint(state))
        assert later.url == f"{internal}/service/marathon" and later.list_apps() == []
    finally:
        marathons.close()
    # In another VPC, or outside any, the external balancer is the one asked.
    monkeypatch.setenv(INSIDE_VPC, "vpc-0fedcba9876543210")
    elsewhere = Marathons()
    with pytest.raises(NgpError, match="waiting for the cluster at http://127.0.0.1:9 "):
        get_kind("marathon.ready").create(
            Context(aws=aws, env="t", lineage="l", marathons=elsewhere), "dcos.ready",
            {**spec, "timeout": 1})
    assert elsewhere.urls() == [f"{external}/service/marathon"]
    elsewhere.close()


def test_the_manager_says_which_vpc_it_is_in(tmp_path):
    built = build_desired(load(tmp_path, modules=("network", "dcos", "manager"), extra=(
        '\n[manager]\nngp_package = "git+https://github.com/you/ngp@' + "0" * 40 + '"\n')))
    user_data = spec(built.graph, "manager.instance")["user_data"]
    assert "export NGP_INSIDE_VPC=<network.vpc.id>" in user_data
    gate = spec(built.graph, "dcos.ready")
    assert gate["vpc_id"] == "<network.vpc.id>"
    assert gate["internal_url"] == "http://masters-internal-lb.elb.example"


def test_gate_gives_up_after_its_timeout_with_a_clear_error(aws):
    from ngp.marathon.endpoints import Marathons
    from ngp.resources import Context, get_kind

    marathons = Marathons()
    ctx = Context(aws=aws, env="t", lineage="l", marathons=marathons)
    with pytest.raises(NgpError) as exc:
        get_kind("marathon.ready").create(ctx, "dcos.ready",
                                          {"dcos_url": "http://127.0.0.1:9", "timeout": 1})
    assert "timed out after 1s waiting for the cluster at http://127.0.0.1:9" in str(exc.value)
    assert "/var/log/ngp-dcos.log" in exc.value.hint
    marathons.close()


def test_before_its_cluster_answers_the_env_has_no_marathon():
    from ngp.marathon.endpoints import Marathons

    with pytest.raises(NgpError, match="has no address yet"):
        Marathons().at(None)


# -- the installer: a local file (uploaded) or a URL, with its sha256 ----------------------

SHA = "ab" * 32


@pytest.mark.parametrize(("dcos", "message"), [
    ('installer = "dcos_generate_config.sh"',
     r"^envs/t.toml: dcos.installer_sha256: required with installer 'dcos_generate_config.sh'"),
    ('installer = "https://archive.example/dcos_generate_config.sh"',
     r"^envs/t.toml: dcos.installer_sha256: required with installer 'https://archive"),
    ('installer_url = "https://archive.example/x.sh"', r"dcos.installer_sha256: required"),
    (f'installer = "https://a.example/x.sh"\ninstaller_sha256 = "{SHA[:-1]}"',
     r"^envs/t.toml: dcos.installer_sha256: is not a sha256 \(64 hex digits"),
    (f'installer = "https://a.example/x.sh"\ninstaller_url = "https://b.example/x.sh"\n'
     f'installer_sha256 = "{SHA}"', r"dcos.installer_url: installer and installer_url are both"),
    (f'installer = "missing/dcos_generate_config.sh"\ninstaller_sha256 = "{SHA}"',
     r"^envs/t.toml: dcos.installer: the installer '.*/missing/dcos_generate_config.sh' is "
     r"not a file"),
])
def test_installer_settings_are_one_line_naming_the_key(tmp_path, dcos, message):
    with pytest.raises(ConfigError) as exc:
        build_desired(load(tmp_path, dcos))
    line = f"{exc.value.where}: {exc.value}"
    assert "\n" not in line and re.search(message, line), line


def test_a_local_installer_is_uploaded_and_only_the_bootstrap_node_may_read_it(tmp_path):
    (tmp_path / "dcos_generate_config.sh").write_text("#!/bin/sh\n")
    graph = build_desired(load(tmp_path, f"""
        installer = "dcos_generate_config.sh"
        installer_sha256 = "{SHA}"
    """)).graph
    upload = graph.resources["dcos.installer"]
    assert upload.kind == "s3.object"
    assert spec(graph, "dcos.installer") == {
        "bucket": "<dcos.exhibitor_bucket.name>", "key": "installer/dcos_generate_config.sh",
        "source": str((tmp_path / "dcos_generate_config.sh").resolve()), "sha256": SHA}
    bootstrap = graph.resources["dcos.bootstrap"]
    assert "dcos.installer" in bootstrap.depends_on
    script = spec(graph, "dcos.bootstrap")["user_data"]
    assert ("aws s3 cp --region eu-west-1 s3://ngp-exhibitor-t-123456789012/installer/"
            "dcos_generate_config.sh dcos_generate_config.sh") in script
    assert f'echo "{SHA}  dcos_generate_config.sh" | sha256sum -c -' in script
    assert script.index("sha256sum -c") < script.index("bash dcos_generate_config.sh")
    assert "downloads.dcos.io" not in script
    statements = spec(graph, "dcos.bootstrap_role")["policies"]["bootstrap"]["Statement"]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        (["ec2:CreateTags"], "arn:aws:ec2:eu-west-1:*:instance/*"),
        (["s3:GetObject"],
         "arn:aws:s3:::ngp-exhibitor-t-123456789012/installer/dcos_generate_config.sh")]


def test_a_url_installer_is_downloaded_by_the_bootstrap_node_and_checked(tmp_path):
    graph = build_desired(load(tmp_path, f"""
        installer_url = "https://archive.example/dcos_generate_config.sh"
        installer_sha256 = "{SHA}"
    """)).graph
    assert "dcos.installer" not in graph.resources
    script = spec(graph, "dcos.bootstrap")["user_data"]
    assert ("curl -fsSL -o dcos_generate_config.sh "
            "https://archive.example/dcos_generate_config.sh") in script
    assert f'echo "{SHA}  dcos_generate_config.sh" | sha256sum -c -' in script
    statements = spec(graph, "dcos.bootstrap_role")["policies"]["bootstrap"]["Statement"]
    assert [s["Sid"] for s in statements] == ["ReportInstall"]


def test_every_node_may_set_only_the_install_report_and_only_on_the_envs_machines(graph):
    for role in ("master_role", "agent_role", "bootstrap_role"):
        policies = spec(graph, f"dcos.{role}")["policies"]
        [report] = [s for p in policies.values() for s in p["Statement"]
                    if s.get("Sid") == "ReportInstall"]
        assert report["Condition"] == {
            "StringEquals": {"aws:ResourceTag/ngp:env": "t"},
            "ForAllValues:StringEquals": {"aws:TagKeys": ["ngp:install"]}}


def test_the_nodes_image_is_centos_7_9_from_centos_itself(graph):
    assert spec(graph, "dcos.image") == {"owners": ["125523088429"],
                                         "name": "CentOS Linux 7 x86_64 - 2009*",
                                         "architecture": "x86_64"}


def test_the_masters_balancer_admits_the_envs_own_public_addresses(tmp_path):
    """The private machines reach it through the NAT, full-tunnel VPN users through the VPN
    server's address: with the admin CIDRs alone both were kept out."""
    built = build_desired(load(tmp_path, modules=("network", "dcos", "openvpn")))
    ingress = spec(built.graph, "network.sg.master_lb")["ingress"]
    sources = {(r["cidr"], r["from_port"]) for r in ingress}
    for port in (80, 443):
        assert {("203.0.113.0/24", port), ("<network.eip.nat[a].public_ip>/32", port),
                ("<openvpn.eip.public_ip>/32", port)} <= sources
    assert len(ingress) == 6
    (tmp_path / "alone").mkdir()
    alone = build_desired(load(tmp_path / "alone", modules=("network", "dcos")))
    assert len(spec(alone.graph, "network.sg.master_lb")["ingress"]) == 4
