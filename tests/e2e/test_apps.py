"""The platform's Marathon apps through the CLI, against the sandbox's local Marathon."""

from __future__ import annotations

import json

from tests.homes import Home, all_ids

# Every app's id carries its env: /<env>/platform/<name> (the env here is "apps").
APPS = {f"/apps/platform/{name}" for name in (
    "registry", "redis", "tyk-gateway", "sysdig-agent", "jenkins", "ecr-login", "filebeat",
    "marathon-lb")}


def test_apps_come_up_healthy_change_alone_and_go_first(home):
    env = home.env("apps", full=True, **{'domain = "sandbox.ngp.test"': 'domain = "apps.ngp.test"'})
    home.ngp("up", "--env", env, "--yes", check=True)
    assert home.tagged(env)["app"] == APPS
    status = json.loads(home.ngp("status", "--env", env, "--json", check=True).stdout)
    apps = {r["id"]: r["status"] for r in status["resources"] if r["kind"] == "marathon.app"}
    assert set(apps) == APPS
    # Sysdig runs on every agent of the env's cluster (2 private + 1 public), the rest once.
    for every_agent in ("/apps/platform/sysdig-agent", "/apps/platform/ecr-login"):
        assert apps.pop(every_agent).startswith("running 3/3, 3 healthy"), every_agent
    # An app without health checks (filebeat) is judged by its tasks running, and says so.
    assert apps.pop("/apps/platform/filebeat") == "running 3/3 (no health check)"
    assert all(s.startswith("running 1/1, 1 healthy") for s in apps.values()), apps
    assert all(r["healthy"] for r in status["resources"] if r["kind"] == "marathon.app")

    live = {a["id"]: a for a in home.marathon_apps()}
    registry = live["/apps/platform/registry"]
    assert registry["env"]["REGISTRY_STORAGE_S3_BUCKET"] == "ngp-registry-apps-123456789012"
    assert registry["container"]["portMappings"][0]["labels"]["VIP_0"] == "192.168.0.1:80"
    assert live["/apps/platform/tyk-gateway"]["dependencies"] == ["/apps/platform/redis"]
    # Named VIPs carry the env, so another env's clients never reach these tasks.
    assert live["/apps/platform/jenkins"]["container"]["portMappings"][0]["labels"] == {
        "VIP_0": "/jenkins-apps:8080"}
    assert live["/apps/platform/tyk-gateway"]["env"]["TYK_GW_STORAGE_HOST"] == \
        "redis-apps.marathon.l4lb.thisdcos.directory"
    assert live["/apps/platform/sysdig-agent"]["constraints"] == [["hostname", "UNIQUE"]]
    # marathon-lb holds the public agents' ports; Tyk is routed to by its host name.
    assert [p["port"] for p in live["/apps/platform/marathon-lb"]["portDefinitions"]] == [
        80, 443, 9090, 9091]
    assert live["/apps/platform/tyk-gateway"]["labels"]["HAPROXY_0_VHOST"] == "api.apps.ngp.test"
    # Secret values go to Marathon only, never to the state.
    key = live["/apps/platform/sysdig-agent"]["env"]["ACCESS_KEY"]
    assert key == "sandbox-placeholder-sysdig_access_key"
    secret = registry["env"]["REGISTRY_HTTP_SECRET"]
    state_text = (home.root / "state" / f"{env}.json").read_text()
    assert secret not in state_text and key not in state_text
    versions = {i: a["version"] for i, a in live.items()}

    # One setting of one app: only that app changes, in place.
    path = home.root / "envs" / f"{env}.toml"
    path.write_text(path.read_text() + '\n[jenkins]\nmem = 4096\n')
    plan = json.loads(home.ngp("plan", "--env", env, "--json", check=True).stdout)
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [("jenkins.app", "update")]
    assert [f["name"] for f in plan["changes"][0]["fields"]] == ["mem"]
    home.ngp("up", "--env", env, "--yes", check=True)
    after = {a["id"]: a for a in home.marathon_apps()}
    assert after["/apps/platform/jenkins"]["mem"] == 4096
    assert {i: a["version"] for i, a in after.items() if i != "/apps/platform/jenkins"} == {
        i: v for i, v in versions.items() if i != "/apps/platform/jenkins"}
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0

    # A per-node app changes on every agent of the local Marathon's cluster model, replaced
    # in place (with Marathon's default strategy it would wait for a free agent forever).
    path.write_text(path.read_text() + '\n[monitoring]\ntags = "team:platform"\n')
    plan = json.loads(home.ngp("plan", "--env", env, "--json", check=True).stdout)
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [
        ("monitoring.app", "update")]
    home.ngp("up", "--env", env, "--yes", check=True, timeout=120)
    sysdig = {a["id"]: a for a in home.marathon_apps()}["/apps/platform/sysdig-agent"]
    assert sysdig["env"]["TAGS"] == "team:platform" and sysdig["tasksRunning"] == 3
    assert {t["version"] for t in sysdig["tasks"]} == {sysdig["version"]}
    assert len({t["host"] for t in sysdig["tasks"]}) == 3

    down = home.ngp("down", "--env", env, "--yes", check=True)
    order = [line.split(":")[0] for line in down.stderr.splitlines() if "deleted after" in line]
    assert order.index("jenkins.app") < order.index("dcos.ready") < order.index("network.vpc")
    assert all_ids(home.tagged(env)) == set()


def test_up_after_the_sandbox_was_stopped_without_down_makes_the_env_again(tmp_path):
    """`ngp sandbox stop` forgets everything the sandbox held, Marathon's apps too, and its
    next start serves Marathon at another port: the env's recorded apps are read at the
    env's Marathon as it is now (the gate asked that fixed Marathon, not the cluster), so
    the next `up` makes the env again instead of stopping at the old port."""
    project = Home(tmp_path)
    try:
        env = project.env("again", modules='["network", "dcos", "jenkins"]')
        project.ngp("up", "--env", env, "--yes", check=True, timeout=300)
        old = project.sandbox()["marathon_url"]
        project.ngp("sandbox", "stop", check=True)
        again = project.ngp("up", "--env", env, "--yes", timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert project.sandbox()["marathon_url"] != old, "a new sandbox, another port"
        assert project.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
        apps = [r for r in project.state(env)["resources"].values() if r["kind"] == "marathon.app"]
        assert apps and all(r["spec"]["marathon"]["marathon_url"] ==
                            project.sandbox()["marathon_url"] for r in apps)
    finally:
        project.stop()
