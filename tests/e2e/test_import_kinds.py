"""`ngp import` of every kind ngp can tag besides EC2's (tests/e2e/test_import_state.py has
those, buckets and roles): each object of a whole platform, its state line removed and its
ngp tags stripped in AWS (as one made by hand has none), imported again by its id, planned
as an update that writes ngp's tags and nothing else, and tagged by the next `up` so well
that find adopts it from its tags alone."""

from __future__ import annotations

import json

from tests.homes import one_error_line

NGP_KEYS = ["ngp:env", "ngp:address", "ngp:lineage", "ngp:generate"]
REGION, ACCOUNT = "us-east-1", "123456789012"
# One object of each kind; a secret holding a password, whose origin (ngp:generate) is
# stripped too: an import takes it as the spec's, and the first up tags it back.
KINDS = ("elb.load_balancer", "autoscaling.group", "ecr.repository", "secretsmanager.secret",
         "lambda.function", "logs.group", "events.rule", "iam.instance_profile", "iam.policy",
         "opensearch.domain", "apigateway.rest_api")


def strip_tags(home, kind: str, id: str) -> None:
    """Remove ngp's tags from the object, with the service's own untag call."""
    c = home.client
    if kind == "elb.load_balancer":
        c("elb").remove_tags(LoadBalancerNames=[id], Tags=[{"Key": k} for k in NGP_KEYS])
    elif kind == "autoscaling.group":
        c("autoscaling").delete_tags(Tags=[{"ResourceId": id, "ResourceType":
                                            "auto-scaling-group", "Key": k} for k in NGP_KEYS])
    elif kind == "ecr.repository":
        arn = c("ecr").describe_repositories(repositoryNames=[id])["repositories"][0][
            "repositoryArn"]
        c("ecr").untag_resource(resourceArn=arn, tagKeys=NGP_KEYS)
    elif kind == "secretsmanager.secret":
        c("secretsmanager").untag_resource(SecretId=id, TagKeys=NGP_KEYS)
    elif kind == "lambda.function":
        arn = c("lambda").get_function(FunctionName=id)["Configuration"]["FunctionArn"]
        c("lambda").untag_resource(Resource=arn, TagKeys=NGP_KEYS)
    elif kind == "logs.group":
        c("logs").untag_resource(resourceArn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{id}",
                                 tagKeys=NGP_KEYS)
    elif kind == "events.rule":
        c("events").untag_resource(ResourceARN=c("events").describe_rule(Name=id)["Arn"],
                                   TagKeys=NGP_KEYS)
    elif kind == "iam.instance_profile":
        c("iam").untag_instance_profile(InstanceProfileName=id, TagKeys=NGP_KEYS)
    elif kind == "iam.policy":
        c("iam").untag_policy(PolicyArn=id, TagKeys=NGP_KEYS)
    elif kind == "opensearch.domain":
        arn = c("opensearch").describe_domain(DomainName=id)["DomainStatus"]["ARN"]
        c("opensearch").remove_tags(ARN=arn, TagKeys=NGP_KEYS)
    elif kind == "apigateway.rest_api":
        c("apigateway").untag_resource(
            resourceArn=f"arn:aws:apigateway:{REGION}::/restapis/{id}", tagKeys=NGP_KEYS)
    else:
        raise AssertionError(kind)


def plan_changes(home, env: str) -> dict[str, dict]:
    plan = json.loads(home.ngp("plan", "--env", env, "--json", check=True).stdout)
    return {c["address"]: c for c in plan["changes"]}


def test_every_taggable_kind_is_imported_then_tagged_by_up(home):
    env = home.env("impk", full=True,
                   **{'domain = "sandbox.ngp.test"': 'domain = "impk.ngp.test"'})
    home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    try:
        resources = home.state(env)["resources"]
        picked = {}
        for address, res in sorted(resources.items()):
            if res["kind"] in KINDS and res["kind"] not in {k for k, _, _ in picked.values()}:
                if res["kind"] == "secretsmanager.secret" and \
                        res["spec"].get("generate") != "password":
                    continue
                picked[address] = (res["kind"], res["id"], res["module"])
        assert sorted(k for k, _, _ in picked.values()) == sorted(KINDS)

        home.ngp("state", "rm", "--env", env, "--force", *picked, check=True)
        for kind, id, _ in picked.values():
            strip_tags(home, kind, id)
        for address, (_, id, _) in picked.items():
            done = home.ngp("import", address, id, "--env", env)
            assert done.returncode == 0, f"{address}: {done.stdout}{done.stderr}"
            assert f"at {address}" in done.stdout
        assert all(address in home.state(env)["resources"] for address in picked)

        planned = plan_changes(home, env)
        assert {a: c["action"] for a, c in planned.items()
                if c["action"] not in ("no-op", "update")} == {}, "nothing made or replaced"
        for address in picked:
            fields = {f["name"] for f in planned[address]["fields"]}
            assert planned[address]["action"] == "update" and "ngp:tags" in fields, \
                planned[address]
        home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
        assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
        secret = next(id for kind, id, _ in picked.values() if kind == "secretsmanager.secret")
        tags = {t["Key"]: t["Value"] for t in home.client("secretsmanager").describe_secret(
            SecretId=secret)["Tags"]}
        assert tags["ngp:generate"] == "password" and tags["ngp:env"] == env

        # Tagged by that up: with the lines removed again, find adopts each by its tags
        # alone (the secret's origin read back from ngp:generate, so nothing is replaced).
        home.ngp("state", "rm", "--env", env, "--force", *picked, check=True)
        again = plan_changes(home, env)
        assert {a: again[a]["action"] for a in picked} == {a: "adopt" for a in picked}
        # (a field no read shows, an ECR lifecycle, is set again, as at any adoption)
        assert [(a, f["name"]) for a in picked for f in again[a]["fields"]
                if f["forces_replacement"]] == []
        home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    finally:
        home.ngp("down", "--env", env, "--yes", timeout=600)
    assert home.state(env)["resources"] == {}


def test_an_untaggable_kind_and_a_key_secret_without_its_public_key_say_what_to_do(home):
    env = home.env("impu", modules='["network", "openvpn"]')
    home.client("route53").create_hosted_zone(Name=f"{env}.ngp.test", CallerReference=env)
    home.ngp("up", "--env", env, "--yes", check=True, timeout=300)
    try:
        resources = home.state(env)["resources"]
        record = next(a for a, r in resources.items() if r["kind"] == "route53.record")
        home.ngp("state", "rm", "--env", env, record, check=True)
        refused = home.ngp("import", record, resources[record]["id"], "--env", env)
        assert refused.returncode == 1
        assert one_error_line(refused.stderr) == (
            f"error: {record}: route53.record objects are not imported: it carries no tags: "
            "`ngp plan` finds one made by hand by its zone, name and type (if it says what "
            "the spec says), and `ngp up` adopts it (and makes it match). Run `ngp plan` to "
            "see it adopted (README, Import).")
        assert plan_changes(home, env)[record]["action"] == "adopt"

        key = next(a for a, r in resources.items() if r["kind"] == "secretsmanager.secret"
                   and r["spec"].get("generate") == "ssh-ed25519")
        id = resources[key]["id"]
        home.ngp("state", "rm", "--env", env, "--force", key, check=True)
        home.client("secretsmanager").untag_resource(SecretId=id,
                                                     TagKeys=[*NGP_KEYS, "ngp:public-key"])
        refused = home.ngp("import", key, id, "--env", env)
        assert refused.returncode == 1
        assert "has no ngp:public-key tag" in one_error_line(refused.stderr)
        assert key not in home.state(env)["resources"], "nothing recorded"
        home.client("secretsmanager").delete_secret(SecretId=id, ForceDeleteWithoutRecovery=True)
    finally:
        home.ngp("down", "--env", env, "--yes", timeout=300)
