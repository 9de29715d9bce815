"""A whole `up` and `down` of the sandbox env (every module) with ngp's own policy enforced,
with the paths only some runs take (an adoption after interrupted creates, a rename, an
engine version change):
`ngp sandbox start --iam-policy-of ENV` has ngp sign as an IAM user holding `ngp permissions
--env ENV`, and the sandbox's iam.identity-policies rule refuses what it does not allow."""

from __future__ import annotations

import json

import pytest

from tests.homes import Home, all_ids

# Kinds whose create is turned back into an interrupted one, for the adoption path.
ADOPTED = ("iam.role", "iam.policy", "iam.instance_profile", "s3.bucket", "lambda.function")


def interrupt_creates(home, env):
    """Make the state say these creates were interrupted (intent saved, result not), as a
    run killed inside the create call leaves it: the next run adopts them (find)."""
    path = home.root / "state" / f"{env}.json"
    state = json.loads(path.read_text())
    for address, res in list(state["resources"].items()):
        if res["kind"] in ADOPTED:
            state["pending"][address] = {"op": "create", "kind": res["kind"],
                                         "since": "2026-01-01T00:00:00Z", "spec": res["spec"],
                                         "deps": res["deps"], "module": res["module"]}
            del state["resources"][address]
    path.write_text(json.dumps(state))
    return sorted(state["pending"])


@pytest.fixture(scope="module")
def enforced(tmp_path_factory):
    project = Home(tmp_path_factory.mktemp("ngp-enforced"))
    env = project.env("iam", full=True,
                      **{'domain = "sandbox.ngp.test"': 'domain = "iam.ngp.test"'})
    started = project.ngp("sandbox", "start", "--iam-policy-of", env, check=True, timeout=90)
    assert "signs as IAM user ngp-iam" in started.stderr
    yield project, env
    project.stop()


def test_up_change_and_down_of_every_module_under_ngps_policy(enforced):
    home, env = enforced
    home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    iam = home.client("iam")
    boundary = f"arn:aws:iam::123456789012:policy/ngp/{env}/ngp-boundary-{env}"
    for name in ("manager", "openvpn", "dcos-agent", "dcos-master", "snapshot-lambda"):
        role = iam.get_role(RoleName=f"ngp-{name}-{env}")["Role"]
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary, name
    # Adoption after interrupted creates: find, then the spec re-applied (adopted objects'
    # specs are not known whole), all under the policy.
    interrupted = interrupt_creates(home, env)
    assert len(interrupted) > 10
    adopted = home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    for address in interrupted:
        assert f"{address}: adopted" in adopted.stdout + adopted.stderr, address
    settled = home.ngp("plan", "--env", env, "--detailed-exitcode")
    assert settled.returncode == 0, settled.stdout
    # A rename (a repository replaced, the pull policy given a new version), then an engine
    # version change: moto has no UpgradeDomain (404), but the policy lets ngp ask.
    env_file = home.root / "envs" / f"{env}.toml"
    env_file.write_text(env_file.read_text().replace(
        'repositories = ["app", "web"]', 'repositories = ["app", "www"]'))
    home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    env_file.write_text(env_file.read_text().replace(
        "[elk]\n", '[elk]\nengine_version = "OpenSearch_2.13"\n'))
    upgrade = home.ngp("up", "--env", env, "--yes", timeout=600)
    assert upgrade.returncode != 0
    assert "404" in upgrade.stdout + upgrade.stderr
    assert "not authorized" not in upgrade.stdout + upgrade.stderr
    home.ngp("down", "--env", env, "--yes", check=True, timeout=600)
    assert all_ids(home.tagged(env)) == set()
    assert [u["UserName"] for u in iam.list_users()["Users"]] == [f"ngp-{env}"]


def test_what_the_policy_leaves_out_is_refused(enforced):
    """The enforcement can fail a run: another env's roles are not this policy's, nor are
    its EC2 objects (the policy changes only what is tagged ngp:env=<its env>)."""
    home, env = enforced
    other = home.env("other", modules='["network", "openvpn"]')
    refused = home.ngp("up", "--env", other, "--yes", timeout=300)
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    user = f"User: arn:aws:iam::123456789012:user/ngp-{env} is not authorized to perform: "
    assert f"AccessDenied: {user}iam:CreatePolicy on resource: " in said
    # Its VPC is tagged at creation ngp:env=other: CreateTags with another env's tag.
    assert f"UnauthorizedOperation: {user}ec2:CreateTags on resource: " \
        "arn:aws:ec2:us-east-1:123456789012:vpc/*" in said
    assert not home.client("ec2").describe_vpcs(Filters=[
        {"Name": "tag:ngp:env", "Values": [other]}])["Vpcs"], "nothing of it was made"


def test_another_envs_ec2_object_cannot_be_retagged_as_this_envs(enforced):
    """CreateTags under ngp's policy tags what is being made, made by hand (an import) or
    the env's own: an object of another env, retagged, would be the env's to change."""
    import boto3

    home, env = enforced
    root = home.client("ec2")
    theirs = root.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=[{
        "ResourceType": "vpc", "Tags": [{"Key": "ngp:env", "Value": "other"}]}])["Vpc"]["VpcId"]
    mine = root.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]  # made by hand
    key = json.loads((home.root / "state" / "sandbox" / "runner.json").read_text())
    as_ngp = boto3.client("ec2", endpoint_url=home.sandbox()["endpoint"],
                          region_name="us-east-1", aws_access_key_id=key["aws_access_key_id"],
                          aws_secret_access_key=key["aws_secret_access_key"])
    ours = [{"Key": "ngp:env", "Value": env}]
    with pytest.raises(as_ngp.exceptions.ClientError, match="UnauthorizedOperation"):
        as_ngp.create_tags(Resources=[theirs], Tags=ours)
    as_ngp.create_tags(Resources=[mine], Tags=ours)  # untagged: an import's first up
    vpcs = {v["VpcId"]: {t["Key"]: t["Value"] for t in v.get("Tags", [])}
            for v in root.describe_vpcs(VpcIds=[theirs, mine])["Vpcs"]}
    assert vpcs == {theirs: {"ngp:env": "other"}, mine: {"ngp:env": env}}


def test_an_imported_ec2_object_is_tagged_before_it_is_changed(enforced):
    """ngp's policy changes only EC2 objects tagged for its env: an imported one (made by
    hand, untagged) gets ngp's tags first, then the changes its spec asks for."""
    home, env = enforced
    home.ngp("up", "--env", env, "--yes", "--target", "network", check=True, timeout=300)
    ec2 = home.client("ec2")
    state = home.state(env)["resources"]
    address = next(a for a, r in state.items() if r["kind"] == "ec2.security_group"
                   and any(f.get("from_port") for f in r["spec"].get("ingress", [])))
    old = state[address]["id"]
    home.ngp("state", "rm", "--env", env, "--force", address, check=True)
    ec2.delete_tags(Resources=[old], Tags=[{"Key": k} for k in
                                           ("ngp:env", "ngp:address", "ngp:lineage")])
    rules = ec2.describe_security_groups(GroupIds=[old])["SecurityGroups"][0]["IpPermissions"]
    ec2.revoke_security_group_ingress(GroupId=old, IpPermissions=rules)
    home.ngp("import", address, old, "--env", env, check=True)
    home.ngp("up", "--env", env, "--yes", "--target", "network", check=True, timeout=300)
    assert ec2.describe_security_groups(GroupIds=[old])["SecurityGroups"][0]["IpPermissions"]
    assert home.ngp("plan", "--env", env, "--target", "network",
                    "--detailed-exitcode").returncode == 0
    # Imported again, untagged, and taken down before any up: tagged, then deleted.
    home.ngp("state", "rm", "--env", env, "--force", address, check=True)
    ec2.delete_tags(Resources=[old], Tags=[{"Key": k} for k in
                                           ("ngp:env", "ngp:address", "ngp:lineage")])
    home.ngp("import", address, old, "--env", env, check=True)
    home.ngp("down", "--env", env, "--yes", "--target", address, check=True, timeout=300)
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [old]}])[
        "SecurityGroups"]
