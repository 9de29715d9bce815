"""`ngp import`, `ngp state rm`, `ngp state mv` and `ngp state list` filters (issue 17), as a
user runs them: real `ngp` processes against the sandbox, objects made by hand with boto3."""

from __future__ import annotations

import json
import threading

from ngp.state import LocalStore
from tests.homes import one_error_line


def plan_of(home, env: str) -> dict:
    proc = home.ngp("plan", "--env", env, "--json", check=True)
    return json.loads(proc.stdout)


def changes(plan: dict) -> dict[str, dict]:
    return {c["address"]: c for c in plan["changes"]}


def tags(home, vpc_id: str) -> dict[str, str]:
    vpc = home.ec2().describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    return {t["Key"]: t["Value"] for t in vpc.get("Tags", [])}


def list_of(home, env: str, *args: str) -> list[str]:
    proc = home.ngp("state", "list", "--env", env, *args, check=True)
    return [line.split("\t")[0] for line in proc.stdout.splitlines()]


def test_import_a_vpc_made_by_hand_then_up_adds_only_tags(home):
    env = home.env("imp")
    wanted = changes(plan_of(home, env))["network.vpc"]
    cidr = next(f["new"] for f in wanted["fields"] if f["name"] == "cidr")
    ec2 = home.ec2()
    made = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[{
        "ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "made-by-hand"}]}])
    vpc = made["Vpc"]["VpcId"]
    foreign = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[{
        "ResourceType": "vpc", "Tags": [{"Key": "ngp:env", "Value": "prod"},
                                        {"Key": "ngp:address", "Value": "network.vpc"}]}])
    foreign_id = foreign["Vpc"]["VpcId"]
    try:
        typo = home.ngp("import", "network.vcp", vpc, "--env", env)
        assert typo.returncode == 1
        assert "Did you mean network.vpc?" in one_error_line(typo.stderr)

        missing = home.ngp("import", "network.vpc", "vpc-0123456789abcdef0", "--env", env)
        assert missing.returncode == 1
        assert "there is no ec2.vpc with id 'vpc-0123456789abcdef0'" in one_error_line(
            missing.stderr)

        theirs = home.ngp("import", "network.vpc", foreign_id, "--env", env)
        assert theirs.returncode == 1
        line = one_error_line(theirs.stderr)
        assert "network.vpc" in line and foreign_id in line and "ngp:env=prod" in line
        assert not (home.root / "state" / f"{env}.json").exists() or \
            "network.vpc" not in home.state(env)["resources"]

        store, taken, release = LocalStore(home.root / "state", env), threading.Event(), \
            threading.Event()

        def hold() -> None:  # another run holds the env's lock
            with store.lock("up", print):
                taken.set()
                release.wait(timeout=60)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert taken.wait(timeout=10)
            locked = home.ngp("import", "network.vpc", vpc, "--env", env)
            assert "locked by `ngp up`" in one_error_line(locked.stderr)
        finally:
            release.set()
            holder.join(timeout=10)

        done = home.ngp("import", "network.vpc", vpc, "--env", env, check=True)
        assert f"Imported ec2.vpc {vpc} at network.vpc" in done.stdout
        assert "ngp:env" not in tags(home, vpc), "import writes nothing to AWS"
        assert list_of(home, env) == ["network.vpc"]

        again = home.ngp("import", "network.vpc", vpc, "--env", env)
        assert "`ngp state rm network.vpc`" in one_error_line(again.stderr)

        planned = changes(plan_of(home, env))["network.vpc"]
        assert planned["action"] == "update" and planned["id"] == vpc
        fields = {f["name"]: f for f in planned["fields"]}
        assert fields["ngp:tags"]["new"]["ngp:env"] == env
        assert fields["name"]["old"] == "made-by-hand"
        assert "cidr" not in fields

        home.ngp("up", "--env", env, "--yes", check=True)
        quiet = home.ngp("plan", "--env", env, "--detailed-exitcode")
        assert quiet.returncode == 0, quiet.stdout + quiet.stderr
        assert home.state(env)["resources"]["network.vpc"]["id"] == vpc
        assert tags(home, vpc)["ngp:env"] == env
        assert tags(home, vpc)["ngp:address"] == "network.vpc"
        assert tags(home, vpc)["Name"] != "made-by-hand"
    finally:
        home.ngp("down", "--env", env, "--yes", timeout=300)
        ec2.delete_vpc(VpcId=foreign_id)
    gone = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"]
    assert gone == [], "the imported VPC is ngp's now: down deletes it"


def test_state_rm_mv_and_list_filters(home):
    env = home.env("moves")
    home.ngp("up", "--env", env, "--yes", check=True)
    try:
        vpcs = list_of(home, env, "--kind", "ec2.vpc")
        assert vpcs == ["network.vpc"]
        subnets = list_of(home, env, "network.subnet")
        assert subnets and all(a.startswith("network.subnet.") for a in subnets)
        everything = list_of(home, env)
        assert list_of(home, env, "network") == everything
        vpc = home.state(env)["resources"]["network.vpc"]["id"]

        # mv: away from the graph's address (plan: make a new one, delete the moved), and back.
        moved = home.ngp("state", "mv", "network.vpc", "network.old_vpc", "--env", env,
                         check=True)
        assert "Moved network.vpc to network.old_vpc" in moved.stdout
        planned = changes(plan_of(home, env))
        assert planned["network.vpc"]["action"] == "create"
        assert planned["network.old_vpc"]["action"] == "delete"
        taken = home.ngp("state", "mv", "network.old_vpc", "network.igw", "--env", env)
        assert "network.igw is in the state already" in one_error_line(taken.stderr)
        home.ngp("state", "mv", "network.old_vpc", "network.vpc", "--env", env, check=True)
        quiet = home.ngp("plan", "--env", env, "--detailed-exitcode")
        assert quiet.returncode == 0, quiet.stdout + quiet.stderr

        # rm: refused while what stays depends on it; forced, the object stays in AWS.
        serial = home.state(env)["serial"]
        used = home.ngp("state", "rm", "network.vpc", "--env", env)
        assert "depends on network.vpc" in one_error_line(used.stderr)
        assert home.state(env)["serial"] == serial
        forgot = home.ngp("state", "rm", "network.vpc", "--env", env, "--force", check=True)
        assert "Removed network.vpc from the state" in forgot.stdout
        assert "the next `ngp up` adopts an object still tagged for it again" in forgot.stderr
        assert home.state(env)["serial"] == serial + 1
        assert "network.vpc" not in home.state(env)["resources"]
        assert home.ec2().describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["VpcId"] == vpc
        # It still carries its tags: the plan adopts it (issue 18), never makes a second one.
        assert changes(plan_of(home, env))["network.vpc"]["action"] == "adopt"

        # Its own tags name this env and address: it is imported back, and nothing is made.
        home.ngp("import", "network.vpc", vpc, "--env", env, check=True)
        assert changes(plan_of(home, env))["network.vpc"]["action"] in ("update", "no-op")
        home.ngp("up", "--env", env, "--yes", check=True)
        quiet = home.ngp("plan", "--env", env, "--detailed-exitcode")
        assert quiet.returncode == 0, quiet.stdout + quiet.stderr
        assert home.state(env)["resources"]["network.vpc"]["id"] == vpc
    finally:
        home.ngp("down", "--env", env, "--yes", timeout=300)


def test_import_a_bucket_and_a_role_made_by_hand_then_up_secures_and_tags_them(home):
    env = home.env("impb", modules='["network", "marathon_snapshot"]')
    # The env's hosted zone, as a real account has it (ngp up makes it in the sandbox).
    home.client("route53").create_hosted_zone(Name=f"{env}.ngp.test", CallerReference=env)
    wanted = changes(plan_of(home, env))
    bucket = next(f["new"] for f in wanted["marathon_snapshot.bucket"]["fields"]
                  if f["name"] == "name")
    role = {f["name"]: f["new"] for f in wanted["marathon_snapshot.snapshot_role"]["fields"]}
    s3, iam = home.client("s3"), home.client("iam")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "ops"}]})
    iam.create_role(RoleName=role["name"], Path=role["path"],
                    AssumeRolePolicyDocument=json.dumps(role["trust"]))
    try:
        for address, id in (("marathon_snapshot.bucket", bucket),
                            ("marathon_snapshot.snapshot_role", role["name"])):
            done = home.ngp("import", address, id, "--env", env, check=True)
            assert f"at {address}" in done.stdout
            # A bucket's own policy, encryption and lifecycle are replaced by the next up: said.
            assert ("replacing its own" in done.stderr) == (address.endswith("bucket"))
        assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [
            {"Key": "team", "Value": "ops"}], "import writes nothing to AWS"

        planned = changes(plan_of(home, env))
        for address in ("marathon_snapshot.bucket", "marathon_snapshot.snapshot_role"):
            assert planned[address]["action"] == "update", planned[address]
            fields = {f["name"]: f for f in planned[address]["fields"]}
            assert fields["ngp:tags"]["new"]["ngp:address"] == address

        home.ngp("up", "--env", env, "--yes", check=True)
        quiet = home.ngp("plan", "--env", env, "--detailed-exitcode")
        assert quiet.returncode == 0, quiet.stdout + quiet.stderr
        # ngp's tags beside the bucket's own (PutBucketTagging replaces the whole set), and
        # the bucket secured as one ngp makes.
        bucket_tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
        assert bucket_tags["team"] == "ops"
        assert bucket_tags["ngp:address"] == "marathon_snapshot.bucket"
        assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"][
            "BlockPublicPolicy"]
        role_tags = {t["Key"]: t["Value"] for t in iam.get_role(RoleName=role["name"])["Role"][
            "Tags"]}
        assert role_tags["ngp:env"] == env
        assert role_tags["ngp:address"] == "marathon_snapshot.snapshot_role"
    finally:
        home.ngp("down", "--env", env, "--yes", timeout=300)
    assert bucket not in home.buckets(), "imported, it is ngp's: down deletes it"
    assert role["name"] not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
