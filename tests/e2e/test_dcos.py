"""The dcos module end to end, through the CLI against the sandbox: up, an empty plan, more
agents as one in-place change, down leaving nothing."""

from __future__ import annotations

import base64
import json
import time

from tests.homes import all_ids, owned_ids, state_ids


def test_cluster_up_scale_agents_in_place_and_down(home):
    env = home.env("dc", modules='["network", "dcos"]')
    home.ngp("up", "--env", env, "--yes", check=True)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0

    tagged = home.tagged(env)
    assert {k: len(tagged[k]) for k in ("instance", "group_instance", "lb", "group",
                                         "launch_template", "role", "profile", "bucket")} == {
        "instance": 4, "group_instance": 3, "lb": 3, "group": 2, "launch_template": 2,
        "role": 3, "profile": 3, "bucket": 1}
    state = home.state(env)
    assert state_ids(state) == owned_ids(tagged)
    ids = {a: r["id"] for a, r in state["resources"].items()}

    ec2 = home.ec2()
    machines = {i["InstanceId"]: i for r in ec2.describe_instances(
        InstanceIds=sorted(tagged["instance"] | tagged["group_instance"]))["Reservations"]
        for i in r["Instances"]}
    assert all(machines[i]["MetadataOptions"]["HttpTokens"] == "required"
               for i in tagged["instance"])
    # moto launches a group's machines without its template's metadata options: check those.
    for template in tagged["launch_template"]:
        data = ec2.describe_launch_template_versions(LaunchTemplateId=template)[
            "LaunchTemplateVersions"][0]["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
    bootstrap = machines[ids["dcos.bootstrap"]]
    assert bootstrap["PrivateIpAddress"] == "10.0.128.10"  # the 10th of private subnet a
    masters = [machines[ids[f"dcos.master[{i}]"]] for i in range(3)]
    assert len({m["SubnetId"] for m in masters}) == 3, "one master per AZ"

    # Masters read config from the bootstrap node; their user data says so, in order.
    data = ec2.describe_instance_attribute(InstanceId=masters[0]["InstanceId"],
                                           Attribute="userData")["UserData"]["Value"]
    script = base64.b64decode(data).decode()
    assert script.index("http://10.0.128.10:8080/dcos_install.sh") < script.index(
        "bash dcos_install.sh master")

    elb = home.client("elb")
    lbs = {d["LoadBalancerName"]: d for d in elb.describe_load_balancers()[
        "LoadBalancerDescriptions"] if d["LoadBalancerName"] in tagged["lb"]}
    for name in (f"ngp-masters-{env}", f"ngp-masters-int-{env}"):
        assert {i["InstanceId"] for i in lbs[name]["Instances"]} == {
            m["InstanceId"] for m in masters}
    assert lbs[f"ngp-masters-int-{env}"]["Scheme"] == "internal"
    public_group = home.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"ngp-dcos-public-agents-{env}"])["AutoScalingGroups"][0]
    assert public_group["LoadBalancerNames"] == [f"ngp-public-agents-{env}"]

    s3 = home.client("s3")
    bucket = f"ngp-exhibitor-{env}-123456789012"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"][
        "BlockPublicAcls"] is True
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in policy["Statement"])

    outputs = json.loads(home.ngp("outputs", "--env", env, "--json", check=True).stdout)
    assert outputs["dcos_url"] == f"http://dcos.{env}.ngp.test"
    assert outputs["public_agents_url"] == f"http://apps.{env}.ngp.test"
    assert sorted(outputs["dcos_masters_private_ips"]) == sorted(
        m["PrivateIpAddress"] for m in masters)
    assert outputs["dcos_bootstrap_ip"] == "10.0.128.10"
    assert outputs["marathon_url"] == home.sandbox()["marathon_url"]

    # Status: by module, with whether the env's URLs answer (the sandbox's Marathon does;
    # the fake DNS names of a sandbox cluster do not).
    status = json.loads(home.ngp("status", "--env", env, "--json", check=True).stdout)
    # The roles' permissions boundary is the env's own (ngp/permissions.py).
    assert {r["module"] for r in status["resources"]} == {"network", "dcos", "permissions"}
    health = {r["address"]: r["status"] for r in status["resources"]}
    assert health["dcos.masters_lb"] == "3/3 in service"
    assert health["dcos.public_agents_lb"] == "1/1 in service"
    assert health["dcos.private_agents"] == "2/2 in service"
    assert all(r["healthy"] for r in status["resources"]), status["resources"]
    assert status["urls"]["marathon_url"].startswith("answers")
    assert status["urls"]["dcos_url"].startswith("no answer")
    text = home.ngp("status", "--env", env, check=True).stdout
    assert "dcos: " in text and "network: " in text and "dcos_url: no answer" in text

    # Nodes whose boot script reported a failed install (it tags its own machine) say why.
    why = "docker: yum could not install docker-ce-19.03.5"
    [agent] = [i["InstanceId"] for i in home.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"ngp-dcos-private-agents-{env}"])["AutoScalingGroups"][0][
        "Instances"]][:1]
    ec2.create_tags(Resources=[masters[0]["InstanceId"], agent],
                    Tags=[{"Key": "ngp:install", "Value": f"failed:{why}"}])
    status = json.loads(home.ngp("status", "--env", env, "--json", check=True).stdout)
    health = {r["address"]: r["status"] for r in status["resources"]}
    assert health["dcos.master[0]"] == f"running, install failed: {why}"
    assert health["dcos.master[1]"] == "running"
    assert health["dcos.private_agents"] == f"2/2 in service, install failed on {agent}: {why}"
    ec2.delete_tags(Resources=[masters[0]["InstanceId"], agent], Tags=[{"Key": "ngp:install"}])

    # Judged against the spec: the public agents' group scaled to 0 of 0 behind ngp's back is
    # not healthy, nor is their balancer with nothing behind it; exit 2 with --detailed-exitcode.
    scaling = home.client("autoscaling")
    public = f"ngp-dcos-public-agents-{env}"
    scaling.update_auto_scaling_group(AutoScalingGroupName=public, MinSize=0, DesiredCapacity=0)
    scaling.update_auto_scaling_group(AutoScalingGroupName=f"ngp-dcos-private-agents-{env}",
                                      MinSize=2, MaxSize=3, DesiredCapacity=3)
    judged = home.ngp("status", "--env", env, "--json", "--no-probe", "--detailed-exitcode")
    assert judged.returncode == 2, judged.stderr
    rows = {r["address"]: r for r in json.loads(judged.stdout)["resources"]}
    assert rows["dcos.public_agents"]["status"] == "0/1 in service, desired 0 on AWS"
    assert rows["dcos.public_agents_lb"]["status"].startswith("0/1 in service")
    # More machines than the spec wants serve it: healthy, and the difference is shown.
    assert rows["dcos.private_agents"]["status"] == "3/2 in service, desired 3 on AWS"
    assert [a for a, r in rows.items() if not r["healthy"]] == [
        "dcos.public_agents", "dcos.public_agents_lb"]
    text = home.ngp("status", "--env", env, "--no-probe").stdout
    assert "2 of " in text and "resources not healthy: dcos.public_agents," in text
    home.ngp("up", "--env", env, "--yes", check=True)  # the spec's sizes back
    # The group's new machine boots, then passes the balancer's health checks (a second each
    # here): until then the balancer's row says why it is not healthy yet, and then it is.
    deadline = time.monotonic() + 30
    while (judged := home.ngp("status", "--env", env, "--json", "--no-probe",
                              "--detailed-exitcode")).returncode != 0:
        assert judged.returncode == 2 and time.monotonic() < deadline, judged.stdout
        waiting = [r for r in json.loads(judged.stdout)["resources"] if not r["healthy"]]
        assert [(r["address"], r["status"]) for r in waiting] == [
            ("dcos.public_agents_lb", "0/1 in service, 1 not yet healthy")], waiting
        time.sleep(0.5)

    # One more private agent: one in-place change of its group, nothing else.
    path = home.root / "envs" / f"{env}.toml"
    path.write_text(path.read_text().replace("private_agents = 2", "private_agents = 3"))
    plan = json.loads(home.ngp("plan", "--env", env, "--json", check=True).stdout)
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [
        ("dcos.private_agents", "update")]
    home.ngp("up", "--env", env, "--yes", check=True)
    assert len(home.tagged(env)["group_instance"]) == 4
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0

    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


def test_a_local_installer_is_uploaded_for_the_bootstrap_node_and_removed_by_down(home):
    import hashlib

    installer = b"#!/bin/sh\necho a DC/OS 2.2 installer stand-in\n"
    (home.root / "installers").mkdir()
    (home.root / "installers" / "dcos_generate_config.sh").write_bytes(installer)
    sha256 = hashlib.sha256(installer).hexdigest()
    env = home.env("di", modules='["network", "dcos"]')
    path = home.root / "envs" / f"{env}.toml"
    path.write_text(path.read_text().replace("[dcos]\n", "[dcos]\n"
                    'installer = "installers/dcos_generate_config.sh"\n'
                    f'installer_sha256 = "{sha256}"\n', 1))
    home.ngp("up", "--env", env, "--yes", check=True)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0

    s3, bucket = home.client("s3"), f"ngp-exhibitor-{env}-123456789012"
    key = "installer/dcos_generate_config.sh"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == installer
    assert s3.head_object(Bucket=bucket, Key=key)["Metadata"] == {"sha256": sha256}
    iam = home.client("iam")
    policy = iam.get_role_policy(RoleName=f"ngp-dcos-bootstrap-{env}",
                                 PolicyName="bootstrap")["PolicyDocument"]
    reads = [s for s in policy["Statement"] if s["Sid"] == "Installer"]
    assert [(s["Action"], s["Resource"]) for s in reads] == [
        (["s3:GetObject"], f"arn:aws:s3:::{bucket}/{key}")]
    state = home.state(env)
    bootstrap = state["resources"]["dcos.bootstrap"]["id"]
    data = home.ec2().describe_instance_attribute(InstanceId=bootstrap, Attribute="userData")
    script = base64.b64decode(data["UserData"]["Value"]).decode()
    assert f"s3://{bucket}/{key}" in script and f'echo "{sha256}  dcos_generate_config.sh"' \
        in script

    home.ngp("down", "--env", env, "--yes", check=True)
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
