"""Promises of the compute, IAM and secret kinds beyond the common lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from moto.ec2.models import ec2_backends

from ngp.errors import NgpError, ResourceError
from ngp.resources import get_kind
from ngp.resources.secretsmanager import reveal
from tests.resources.conftest import TRUST


def inject(ctx, operation, code, message, times):
    """Make the next `times` calls of an EC2 operation fail with an AWS error."""
    left = {"n": times}

    def fail(**kwargs):
        if left["n"]:
            left["n"] -= 1
            raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

    ctx.aws.client("ec2").meta.events.register(f"before-call.ec2.{operation}", fail)
    return left


def instance_spec(image, subnet_id, **over):
    return {"name": "i", "image_id": image["id"], "root_device_name": image["root_device_name"],
            "instance_type": "t3.small", "subnet_id": subnet_id, "security_group_ids": [],
            "key_name": None, "instance_profile": None, "user_data": "#!/bin/sh\n",
            "root_volume_size": 10, "root_volume_type": "gp3", **over}


def test_instance_requires_imdsv2_and_encrypts_a_tagged_root_volume(ctx, image, subnet_id):
    id, outputs = get_kind("ec2.instance").create(ctx, "x.vm", instance_spec(image, subnet_id))
    ec2 = ctx.aws.client("ec2")
    item = ec2.describe_instances(InstanceIds=[id])["Reservations"][0]["Instances"][0]
    assert item["MetadataOptions"]["HttpTokens"] == "required"
    assert item["State"]["Name"] == "running"
    volume_id = item["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert volume["Size"] == 10 and volume["Encrypted"]
    assert {"Key": "ngp:address", "Value": "x.vm"} in volume["Tags"]
    assert outputs["private_ip"].startswith("10.0.")


def test_instance_waits_for_a_profile_runinstances_does_not_see_yet(ctx, image, subnet_id,
                                                                    profile_arn):
    left = inject(ctx, "RunInstances", "InvalidParameterValue",
                  "Value (ngp-x-profile) for parameter iamInstanceProfile.name is invalid. "
                  "Invalid IAM Instance Profile name", times=2)
    id, _ = get_kind("ec2.instance").create(
        ctx, "x.vm", instance_spec(image, subnet_id, instance_profile=profile_arn))
    assert left["n"] == 0
    assert get_kind("ec2.instance").read(ctx, id)["instance_profile"] == profile_arn


def test_marketplace_image_without_subscription_says_what_to_do(ctx, image, subnet_id):
    inject(ctx, "RunInstances", "OptInRequired", "In order to use this AWS Marketplace "
           "product you need to accept terms and subscribe.", times=1)
    with pytest.raises(ResourceError) as exc:
        get_kind("ec2.instance").create(ctx, "x.vm", instance_spec(image, subnet_id))
    assert "Marketplace" in exc.value.summary and "subscribe" in exc.value.hint.lower()


def test_image_lookup_takes_the_newest_and_names_the_filter_when_nothing_matches(ctx):
    ec2 = ctx.aws.client("ec2")
    base = get_kind("ec2.image").lookup(ctx, {"owners": ["099720109477"],
                                              "name": "ubuntu/images/*xenial*"})
    # Creation dates pinned in moto's backend (the server runs in this process): moto
    # stamps each image with the current second, so registrations a second apart would
    # otherwise decide the answer. The newest by date is registered neither first nor
    # last, and its name is not the greatest.
    created = {2: datetime(2021, 1, 1, tzinfo=UTC), 1: datetime(2023, 1, 1, tzinfo=UTC),
               3: datetime(2022, 1, 1, tzinfo=UTC)}
    backend = ec2_backends[ctx.aws.account_id()][ctx.aws.region]
    for n, when in created.items():
        image_id = ec2.register_image(
            Name=f"ngp-test-image-{n}", RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )["ImageId"]
        backend.amis[image_id].creation_date = when
    newest = get_kind("ec2.image").lookup(ctx, {"owners": ["self"],
                                                "name": "ngp-test-image-*"})
    assert newest["name"] == "ngp-test-image-1"
    assert base["root_device_name"] == "/dev/sda1"
    with pytest.raises(NgpError) as exc:
        get_kind("ec2.image").lookup(ctx, {"owners": ["679593333241"],
                                           "name": "OpenVPN Access Server*"})
    assert "679593333241" in exc.value.summary and "OpenVPN Access Server*" in exc.value.summary


def test_changing_the_instance_type_is_an_update_that_says_it_restarts():
    from ngp.graph import Graph, Resource
    from ngp.plan import Action, make_plan
    from ngp.state import Recorded, State

    spec = {"name": "i", "image_id": "ami-1", "root_device_name": "/dev/xvda",
            "instance_type": "t3.small", "subnet_id": "subnet-1", "security_group_ids": [],
            "key_name": None, "instance_profile": None, "user_data": "x",
            "root_volume_size": 10, "root_volume_type": "gp3"}
    state = State(env="t")
    state.resources["o.vm"] = Recorded("ec2.instance", "i-1", spec, {"id": "i-1"})
    live = {**spec, "id": "i-1", "status": "running"}
    bigger = Graph.of([Resource("o.vm", "ec2.instance", {**spec, "instance_type": "t3.large"})])
    change = make_plan(bigger, state, {"o.vm": live}).changes[0]
    assert change.action == Action.UPDATE and "stops and starts" in change.reason
    moved = Graph.of([Resource("o.vm", "ec2.instance", {**spec, "user_data": "y"})])
    change = make_plan(moved, state, {"o.vm": live}).changes[0]
    assert change.action == Action.REPLACE
    assert [f.name for f in change.fields if f.forces_replacement] == ["user_data"]


def test_secret_value_is_generated_stored_and_never_an_output(ctx):
    kind = get_kind("secretsmanager.secret")
    arn, outputs = kind.create(ctx, "x.pw", {"name": "ngp-pw", "generate": "password"})
    value = reveal(ctx, arn)
    assert len(value) >= 24
    assert value not in repr(outputs) and value not in repr(kind.read(ctx, arn))
    arn2, outputs2 = kind.create(ctx, "x.key", {"name": "ngp-key", "generate": "ssh-ed25519"})
    assert outputs2["public_key"].startswith("ssh-ed25519 ")
    assert "PRIVATE KEY" in reveal(ctx, arn2)
    assert kind.read(ctx, arn2)["public_key"] == outputs2["public_key"]


def test_objects_with_our_name_but_not_ours_are_not_adopted(ctx):
    ctx.aws.client("iam").create_role(RoleName="ngp-taken", AssumeRolePolicyDocument="{}")
    with pytest.raises(ResourceError, match="not made by ngp"):
        get_kind("iam.role").find(ctx, "x.role", {"name": "ngp-taken"})


def test_role_batch_read_sees_inline_policies(ctx, role_name):
    kind = get_kind("iam.role")
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                   "Resource": "arn:aws:s3:::b/*"}]}
    kind.update(ctx, role_name, {"policies": {}, "trust": TRUST}, {
        "trust": TRUST, "policies": {"p": doc}})
    before = ctx.aws.calls["iam.GetAccountAuthorizationDetails"]
    assert kind.read_many(ctx, [role_name])[role_name]["policies"] == {"p": doc}
    assert ctx.aws.calls["iam.GetAccountAuthorizationDetails"] - before == 1


def test_alias_record_to_a_classic_load_balancer(ctx, subnet_id, sg_id, zone_id):
    _, lb = get_kind("elb.load_balancer").create(ctx, "x.lb", {
        "name": "ngp-masters", "scheme": "internet-facing", "subnets": [subnet_id],
        "security_groups": [sg_id], "listeners": [{"protocol": "TCP", "port": 443,
                                                   "instance_protocol": "TCP",
                                                   "instance_port": 443}]})
    assert lb["zone_id"] == "Z35SXDOTRQ7X7K"  # moto gives none: the per-region table does
    kind = get_kind("route53.record")
    spec = kind.canonical({"zone_id": zone_id, "name": "dcos.example.com", "type": "A",
                           "alias": {"dns_name": lb["dns_name"], "zone_id": lb["zone_id"]}})
    id, _ = kind.create(ctx, "x.dns", spec)
    live = kind.read(ctx, id)
    assert live["alias"] == spec["alias"] and live["name"] == "dcos.example.com."
    kind.delete(ctx, id)
    assert kind.read(ctx, id) is None


def template_spec(image, **over):
    return {"name": "ngp-x-lt", "image_id": image["id"],
            "root_device_name": image["root_device_name"], "instance_type": "t3.small",
            "security_group_ids": [], "key_name": None, "instance_profile": None,
            "user_data": "#!/bin/sh\n", "root_volume_size": 10, "root_volume_type": "gp3",
            **over}


def group_spec(template, subnet_id):
    return {"name": "ngp-x-group", "launch_template_id": template["id"],
            "launch_template_version": template["latest_version"], "min_size": 1,
            "max_size": 1, "desired_capacity": 1, "subnet_ids": [subnet_id],
            "load_balancer_names": [], "health_check_type": "EC2",
            "health_check_grace_period": 300}


def test_group_waits_for_a_new_profile_auto_scaling_does_not_see_yet(ctx, image, subnet_id,
                                                                     profile_arn):
    # Under the strict sandbox (iam.propagation) the profile just made is refused by
    # CreateAutoScalingGroup for a moment: ValidationError "... Invalid IAM Instance Profile".
    template = get_kind("ec2.launch_template").create(
        ctx, "x.lt", template_spec(image, instance_profile=profile_arn))[1]
    kind = get_kind("autoscaling.group")
    id, outputs = kind.create(ctx, "x.group", group_spec(template, subnet_id))
    assert outputs["arn"] and kind.read(ctx, id)["desired_capacity"] == 1


def test_group_update_to_a_template_with_a_new_profile_waits_for_it(ctx, image, subnet_id,
                                                                    role_name):
    lt_kind, kind = get_kind("ec2.launch_template"), get_kind("autoscaling.group")
    lt_id, template = lt_kind.create(ctx, "x.lt", template_spec(image))
    old = group_spec(template, subnet_id)
    id, _ = kind.create(ctx, "x.group", old)
    arn = get_kind("iam.instance_profile").create(ctx, "x.profile", {
        "name": "ngp-x-profile", "path": "/ngp/test/", "role": role_name})[1]["arn"]
    newer = lt_kind.update(ctx, lt_id, template_spec(image),
                           template_spec(image, instance_profile=arn))
    new = {**old, "launch_template_version": newer["latest_version"]}
    kind.update(ctx, id, old, new)
    assert kind.read(ctx, id)["launch_template_version"] == str(newer["latest_version"])


def test_instance_waits_to_associate_a_new_profile(ctx, image, subnet_id, role_name):
    kind = get_kind("ec2.instance")
    spec = instance_spec(image, subnet_id)
    id, _ = kind.create(ctx, "x.vm", spec)
    arn = get_kind("iam.instance_profile").create(ctx, "x.profile", {
        "name": "ngp-x-profile", "path": "/ngp/test/", "role": role_name})[1]["arn"]
    kind.update(ctx, id, spec, {**spec, "instance_profile": arn})
    assert kind.read(ctx, id)["instance_profile"] == arn


def test_secret_recreated_right_after_its_delete_waits_for_the_name(ctx):
    # Under the strict sandbox (secretsmanager.name-reuse-after-delete) the name is refused
    # for a moment after DeleteSecret, as AWS carries the delete out asynchronously.
    kind = get_kind("secretsmanager.secret")
    spec = {"name": "ngp-pw", "generate": "password"}
    arn, _ = kind.create(ctx, "x.pw", spec)
    kind.delete(ctx, arn)
    arn2, outputs = kind.create(ctx, "x.pw", spec)
    assert arn2 != arn and kind.read(ctx, arn2)["name"] == "ngp-pw"


def test_secret_name_held_past_the_deadline_says_what_to_do(ctx, monkeypatch):
    from ngp.resources import secretsmanager

    monkeypatch.setattr(secretsmanager, "REUSE_DEADLINE", 0.5)
    client = ctx.aws.client("secretsmanager")
    client.create_secret(Name="ngp-pw", SecretString="old")
    client.delete_secret(SecretId="ngp-pw", RecoveryWindowInDays=7)  # held for 7 days
    with pytest.raises(ResourceError) as failed:
        get_kind("secretsmanager.secret").create(ctx, "x.pw", {"name": "ngp-pw",
                                                               "generate": "password"})
    line = failed.value.line()
    assert line.startswith("x.pw: the secret name ngp-pw is still held by a deleted secret")
    assert "restore-secret" in line and "\n" not in line
