"""ECR, ELK and Marathon snapshots end to end, through the CLI against the sandbox."""

from __future__ import annotations

import json
import re

from ngp.marathon.rules import READ_ONLY
from tests.homes import all_ids, owned_ids, state_ids

MODULES = '["network", "dcos", "docker_registry", "ecr", "elk", "marathon_snapshot"]'


def test_services_up_snapshot_restore_allow_ip_and_down(home):
    env = home.env("svc", modules=MODULES)
    home.ngp("up", "--env", env, "--yes", check=True)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    tagged = home.tagged(env)
    assert {k: len(tagged[k]) for k in ("repository", "domain", "function", "rule",
                                         "rest_api", "log_group")} == {
        "repository": 2, "domain": 1, "function": 3, "rule": 1, "rest_api": 1, "log_group": 3}
    assert state_ids(home.state(env)) == owned_ids(tagged)

    outputs = json.loads(home.ngp("outputs", "--env", env, "--json", check=True).stdout)
    assert outputs["ecr_repositories"]["app"].endswith(f"/ngp-{env}/app")
    assert outputs["elk_endpoint"] == f"https://ngp-elk-{env}.us-east-1.es.amazonaws.com"
    assert re.fullmatch(r"https://\w+\.execute-api\.us-east-1\.amazonaws\.com/v1/restore",
                        outputs["restore_url"])
    gateway = home.client("apigateway")
    api = home.state(env)["resources"]["marathon_snapshot.api"]["id"]
    route = next(r for r in gateway.get_resources(restApiId=api)["items"]
                 if r["path"] == "/restore")
    method = gateway.get_method(restApiId=api, resourceId=route["id"], httpMethod="POST")
    assert method["authorizationType"] == "AWS_IAM", "restore must not be open to the world"
    agent_role = home.client("iam").list_attached_role_policies(
        RoleName=f"ngp-dcos-agent-{env}")["AttachedPolicies"]
    assert sorted(p["PolicyName"] for p in agent_role) == [
        f"ngp-ecr-pull-{env}", f"ngp-registry-access-{env}"]

    # A snapshot from the CLI, every app deleted, then restored as it was.
    taken = json.loads(home.ngp("snapshot", "--env", env, "--json", check=True).stdout)
    listed = json.loads(home.ngp("snapshot", "--env", env, "--list", "--json",
                                 check=True).stdout)
    assert [s["key"] for s in listed] == [taken["snapshot"]]
    s3 = home.client("s3")
    stored = s3.get_object(Bucket=f"ngp-snapshots-{env}-123456789012", Key=taken["snapshot"])[
        "Body"].read().decode()
    secret = {a["id"]: a for a in home.marathon_apps()}[f"/{env}/platform/registry"]["env"][
        "REGISTRY_HTTP_SECRET"]
    assert secret not in stored, "a secret value reached the snapshot bucket"
    import httpx

    marathon = home.sandbox()["marathon_url"]
    for app in home.marathon_apps():
        httpx.delete(f"{marathon}/v2/apps{app['id']}", params={"force": "true"})
    restored = home.ngp("restore", "--env", env, "--yes", check=True)
    assert f"from {taken['snapshot']}" in restored.stdout
    # Its progress is recorded as the function's is, and read back by id.
    id = re.search(r"Restore (\S+) started \(ngp restore --status \1 --env", restored.stderr)[1]
    record = json.loads(home.ngp("restore", "--status", id, "--env", env, "--json",
                                 check=True).stdout)
    assert record["status"] == "done" and record["snapshot"] == taken["snapshot"]
    assert f"/{env}/platform/registry" in record["done"] and record["failed"] == []
    shown = home.ngp("restore", "--status", id, "--env", env, check=True).stdout
    assert shown.startswith(f"Restore {id}: done, snapshot {taken['snapshot']}")
    unknown = home.ngp("restore", "--status", "nope", "--env", env)
    assert unknown.returncode == 1 and "no restore nope in bucket" in unknown.stderr
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0

    # A restore plans: with nothing changed it says so and puts nothing back (no new version).
    versions = {a["id"]: a["version"] for a in home.marathon_apps()}
    same = home.ngp("restore", "--env", env, check=True)  # no --yes: nothing to ask
    assert same.stdout.startswith("No changes.") and taken["snapshot"] in same.stdout
    assert {a["id"]: a["version"] for a in home.marathon_apps()} == versions
    # One app deleted and one changed: the plan names the snapshot and what differs, and only
    # those two are put back; the other apps keep their versions.
    registry, other = f"/{env}/platform/registry", sorted(set(versions) - {
        f"/{env}/platform/registry"})[0]
    httpx.delete(f"{marathon}/v2/apps{registry}", params={"force": "true"})
    changed = {k: v for k, v in {a["id"]: a for a in home.marathon_apps()}[other].items()
               if k not in READ_ONLY}
    httpx.put(f"{marathon}/v2/apps{other}", json={**changed, "cpus": 0.05}, timeout=10)
    versions = {a["id"]: a["version"] for a in home.marathon_apps()}
    planned = home.ngp("restore", "--env", env, "--json", "--yes", check=True)
    shown = json.loads(planned.stdout)
    assert shown["plan"]["snapshot"] == taken["snapshot"] and shown["plan"]["taken_at"]
    assert shown["plan"]["create"] == [registry]
    assert [(c["id"], c["fields"]) for c in shown["plan"]["change"]] == [(other, ["cpus"])]
    assert shown["plan"]["change"][0]["values"]["cpus"] == {"now": 0.05, "snapshot": changed[
        "cpus"]}
    assert sorted(shown["restored"]["apps"]) == sorted([registry, other])
    after = {a["id"]: a["version"] for a in home.marathon_apps()}
    assert {i: v for i, v in after.items() if i not in (registry, other)} == {
        i: v for i, v in versions.items() if i not in (registry, other)}
    assert after[other] != versions[other] and registry in after
    text = home.ngp("restore", "--env", env)  # no terminal, nothing to confirm: No changes
    assert text.returncode == 0 and text.stdout.startswith("No changes."), text.stderr

    # Let one more network reach the domain: the plan changes its security group, in place.
    allowed = home.ngp("elk", "allow-ip", "198.51.100.7", "--env", env, check=True)
    assert "198.51.100.7/32 added" in allowed.stdout
    plan = json.loads(home.ngp("plan", "--env", env, "--json", check=True).stdout)
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [("elk.sg", "update")]
    home.ngp("up", "--env", env, "--yes", check=True)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    bad = home.ngp("elk", "allow-ip", "nope", "--env", env)
    assert bad.returncode == 1 and "is not an IPv4 address" in bad.stderr

    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()
