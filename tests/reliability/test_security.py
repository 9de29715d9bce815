"""The platform locked down, checked on the whole sandbox platform: no secret value anywhere
ngp writes or prints, private state, IMDSv2 everywhere, private encrypted buckets, admin
ports closed to the world unless a setting opens them (and the plan warns)."""

from __future__ import annotations

import json
import os
import stat

from tests.homes import REPO, one_error_line
from tests.reliability.conftest import REPORT


def test_no_secret_value_is_written_or_printed_and_the_platform_is_locked_down(home):
    text = (REPO / "envs" / "sandbox.toml").read_text().replace(
        'name_suffix = "sandbox"', 'name_suffix = "sec"').replace(
        'domain = "sandbox.ngp.test"', 'domain = "sec.ngp.test"')
    env = home.env("sec", text=text)
    printed = [home.ngp("up", "--env", env, "--yes", check=True)]
    printed += [home.ngp(*args, "--env", env, check=True) for args in (
        ["plan", "--json"], ["status", "--json"], ["outputs", "--json"], ["outputs"],
        ["state", "list"], ["snapshot", "--json"])]
    printed.append(home.ngp("state", "show", "openvpn.admin_password", "--env", env,
                            check=True))

    manager = home.client("secretsmanager")
    secrets = [manager.get_secret_value(SecretId=s["ARN"])["SecretString"]
               for s in manager.list_secrets(Filters=[
                   {"Key": "tag-key", "Values": ["ngp:env"]},
                   {"Key": "tag-value", "Values": [env]}])["SecretList"]]
    assert len(secrets) == 5
    # Values given in environment variables (the sandbox's placeholders) go to Marathon
    # only; generated ones nowhere but Secrets Manager.
    written = [(home.root / "state" / f"{env}.json").read_text(),
               (home.root / "state" / "sandbox" / "server.log").read_text()]
    s3 = home.client("s3")
    snapshots = f"ngp-snapshots-{env}-123456789012"
    for snapshot in s3.list_objects_v2(Bucket=snapshots).get("Contents", []):
        written.append(s3.get_object(Bucket=snapshots, Key=snapshot["Key"])[
            "Body"].read().decode())
    everywhere = written + [p.stdout + p.stderr for p in printed]
    leaks = [(i, value[:4]) for value in secrets for i, text in enumerate(everywhere)
             if value in text or value.splitlines()[0] in text]
    REPORT["secrets leaked"] += len(leaks)
    assert leaks == []

    # State: the file is the owner's alone, and so is its folder.
    assert stat.S_IMODE(os.stat(home.root / "state" / f"{env}.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home.root / "state").st_mode) == 0o700

    # Every machine requires IMDSv2 (instances, and the templates groups launch from).
    ec2 = home.ec2()
    mine = [{"Name": "tag:ngp:env", "Values": [env]}]
    instances = [i for r in ec2.describe_instances(Filters=mine)["Reservations"]
                 for i in r["Instances"] if "aws:autoscaling:groupName" not in str(i["Tags"])]
    assert instances and all(i["MetadataOptions"]["HttpTokens"] == "required"
                             for i in instances)
    for template in ec2.describe_launch_templates(Filters=mine)["LaunchTemplates"]:
        data = ec2.describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"])["LaunchTemplateVersions"][0]
        assert data["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"

    # Every bucket of the env: encrypted, public access blocked, TLS only.
    buckets = [b for b in home.buckets() if home.bucket_env(b) == env]
    assert len(buckets) == 3
    for bucket in buckets:
        assert all(s3.get_public_access_block(Bucket=bucket)[
            "PublicAccessBlockConfiguration"].values())
        assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]

    # The OpenSearch domain: in the VPC, no public endpoint, reachable through its security
    # group only, which admits HTTPS from the VPC and never from everyone.
    status = home.client("opensearch").describe_domain(
        DomainName=f"ngp-elk-{env}")["DomainStatus"]
    assert "Endpoint" not in status and status["Endpoints"]["vpc"]
    assert json.loads(status["AccessPolicies"])["Statement"]
    (group,) = ec2.describe_security_groups(
        GroupIds=status["VPCOptions"]["SecurityGroupIds"])["SecurityGroups"]
    assert group["IpPermissions"] and all(
        (r["IpProtocol"], r["FromPort"], r["ToPort"]) == ("tcp", 443, 443)
        and all(c["CidrIp"] != "0.0.0.0/0" for c in r.get("IpRanges", []))
        for r in group["IpPermissions"])

    # Admin ports: closed to the world (the sandbox's admin CIDR is 127.0.0.1/32).
    groups = ec2.describe_security_groups(Filters=mine)["SecurityGroups"]
    admin_ports = {22, 8181, 9090, 12379}
    for group in groups:
        for rule in group["IpPermissions"]:
            if rule.get("FromPort") in admin_ports:
                assert all(r["CidrIp"] != "0.0.0.0/0" for r in rule.get("IpRanges", [])), \
                    (group["GroupName"], rule)
    home.ngp("down", "--env", env, "--yes", check=True)


def test_admin_ports_open_to_the_world_need_a_setting_and_the_plan_warns(home):
    base = (REPO / "envs" / "sandbox.toml").read_text().split("[openvpn]")[0]
    import re

    base = re.sub(r"(?ms)^modules = \[.*?\]", 'modules = ["network"]', base)
    base = re.sub(r"(?m)^domain = .*$", "", base).replace(
        'name_suffix = "sandbox"', 'name_suffix = "open"').replace(
        'admin_cidrs = ["127.0.0.1/32"]', 'admin_cidrs = ["0.0.0.0/0"]')
    env = home.env("open", text=base)
    refused = home.ngp("plan", "--env", env)
    REPORT["bad inputs tried"] += 1
    assert refused.returncode == 1
    line = one_error_line(refused.stderr)
    assert "network.admin_cidrs" in line and "open_admin_to_world" in line
    home.env(env, text=base.replace("[network]", "[network]\nopen_admin_to_world = true"))
    plan = home.ngp("plan", "--env", env, check=True)
    assert "warning: admin ports (ssh, Exhibitor, marathon-lb stats, the DC/OS UI) are open " \
           "to 0.0.0.0/0" in plan.stderr
