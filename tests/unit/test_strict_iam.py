"""The strict sandbox's eventual-consistency rules, by raw boto3 calls: IAM's new roles and
profiles unseen for a moment by EC2, Auto Scaling and Lambda; a deleted secret's name still
taken for a moment."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from ngp.resources.awslambda import package
from ngp.sandbox.rules import iam as iam_rule
from ngp.sandbox.rules import secretsmanager as secrets_rule

MOMENT = 2.5  # the rules' delays here: set-up on a loaded 2-core machine can take over 1 s
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "lambda.amazonaws.com"]},
     "Action": "sts:AssumeRole"}]})


@pytest.fixture
def short(monkeypatch):
    monkeypatch.setattr(iam_rule, "PROPAGATION_SECONDS", MOMENT)
    monkeypatch.setattr(secrets_rule, "REUSE_SECONDS", MOMENT)


def error(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def new_profile(aws, name: str = "ngp-agent") -> str:
    iam = aws.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    arn = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return arn


def image(aws) -> str:
    return aws.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]


def test_the_defaults_are_short_but_real():
    assert 1.0 <= iam_rule.PROPAGATION_SECONDS <= 2.0
    assert 1.0 <= secrets_rule.REUSE_SECONDS <= 2.0


def test_run_instances_with_a_new_profile_is_refused_then_accepted(aws, short):
    ami = image(aws)
    arn = new_profile(aws)
    ec2 = aws.client("ec2")
    run = dict(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
               IamInstanceProfile={"Arn": arn})
    with pytest.raises(ClientError) as refused:
        ec2.run_instances(**run)
    assert error(refused) == ("InvalidParameterValue", f"Value ({arn}) for parameter "
                              "iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN")
    with pytest.raises(ClientError) as by_name:
        ec2.run_instances(**{**run, "IamInstanceProfile": {"Name": "ngp-agent"}})
    assert error(by_name)[1] == ("Value (ngp-agent) for parameter iamInstanceProfile.name is "
                                 "invalid. Invalid IAM Instance Profile name")
    time.sleep(MOMENT)
    assert ec2.run_instances(**run)["Instances"]


def test_associating_a_new_profile_is_refused_then_accepted(aws, short):
    ec2 = aws.client("ec2")
    instance = ec2.run_instances(ImageId=image(aws), InstanceType="t3.micro", MinCount=1,
                                 MaxCount=1)["Instances"][0]["InstanceId"]
    arn = new_profile(aws)
    with pytest.raises(ClientError) as refused:
        ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": arn}, InstanceId=instance)
    assert error(refused)[0] == "InvalidParameterValue"
    assert "Invalid IAM Instance Profile" in error(refused)[1]
    time.sleep(MOMENT)
    ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": arn}, InstanceId=instance)


def test_a_profile_whose_role_just_changed_is_unseen_again(aws, short):
    ami, arn = image(aws), new_profile(aws)
    time.sleep(MOMENT)
    iam = aws.client("iam")
    iam.remove_role_from_instance_profile(InstanceProfileName="ngp-agent", RoleName="ngp-agent")
    iam.add_role_to_instance_profile(InstanceProfileName="ngp-agent", RoleName="ngp-agent")
    with pytest.raises(ClientError) as refused:
        aws.client("ec2").run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1,
                                        MaxCount=1, IamInstanceProfile={"Arn": arn})
    assert error(refused)[0] == "InvalidParameterValue"


def test_a_group_whose_template_names_a_new_profile_is_refused_then_accepted(aws, short):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    ami = image(aws)
    arn = new_profile(aws)
    template = ec2.create_launch_template(LaunchTemplateName="ngp-agents", LaunchTemplateData={
        "ImageId": ami, "InstanceType": "t3.micro",
        "IamInstanceProfile": {"Arn": arn}})["LaunchTemplate"]["LaunchTemplateId"]
    group = dict(AutoScalingGroupName="ngp-agents", MinSize=1, MaxSize=1, VPCZoneIdentifier=subnet,
                 LaunchTemplate={"LaunchTemplateId": template, "Version": "1"})
    autoscaling = aws.client("autoscaling")
    with pytest.raises(ClientError) as refused:
        autoscaling.create_auto_scaling_group(**group)
    assert error(refused) == ("ValidationError", "You must use a valid fully-formed launch "
                              f"template. Value ({arn}) for parameter iamInstanceProfile.arn is "
                              "invalid. Invalid IAM Instance Profile ARN")
    time.sleep(MOMENT)
    autoscaling.create_auto_scaling_group(**group)
    assert autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=["ngp-agents"])["AutoScalingGroups"]


def test_a_function_with_a_new_role_is_refused_then_accepted(aws, short):
    code = package("marathon_snapshot")
    role = aws.client("iam").create_role(RoleName="ngp-fn", AssumeRolePolicyDocument=TRUST)[
        "Role"]["Arn"]
    function = dict(FunctionName="ngp-fn", Runtime="python3.12", Role=role,
                    Handler="marathon_snapshot.snapshot_handler", Code={"ZipFile": code})
    client = aws.client("lambda")
    with pytest.raises(ClientError) as refused:
        client.create_function(**function)
    assert error(refused) == ("InvalidParameterValueException",
                              "The role defined for the function cannot be assumed by Lambda.")
    time.sleep(MOMENT)
    client.create_function(**function)
    other = aws.client("iam").create_role(RoleName="ngp-fn2", AssumeRolePolicyDocument=TRUST)[
        "Role"]["Arn"]
    with pytest.raises(ClientError) as again:
        client.update_function_configuration(FunctionName="ngp-fn", Role=other)
    assert error(again)[0] == "InvalidParameterValueException"


def test_a_secret_name_reused_at_once_after_a_delete_is_refused(aws, short):
    client = aws.client("secretsmanager")
    arn = client.create_secret(Name="ngp-admin", SecretString="one")["ARN"]
    client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as refused:
        client.create_secret(Name="ngp-admin", SecretString="two")
    assert error(refused) == ("InvalidRequestException", "You can't create this secret because "
                              "a secret with this name is already scheduled for deletion.")
    time.sleep(MOMENT)
    client.create_secret(Name="ngp-admin", SecretString="two")


def test_a_secret_name_scheduled_for_deletion_is_refused_as_aws_refuses_it(aws, short):
    client = aws.client("secretsmanager")
    client.create_secret(Name="ngp-admin", SecretString="one")
    client.delete_secret(SecretId="ngp-admin", RecoveryWindowInDays=7)
    time.sleep(MOMENT)
    with pytest.raises(ClientError) as refused:  # moto alone: ResourceExistsException
        client.create_secret(Name="ngp-admin", SecretString="two")
    assert error(refused)[0] == "InvalidRequestException"
    assert "scheduled for deletion" in error(refused)[1]


def test_under_the_model_a_new_role_waits_no_time_of_its_own(monkeypatch):
    """The model's CreateRole time stands for the propagation (not counted twice)."""
    import time

    from ngp.sandbox import strict
    from ngp.sandbox.rules.iam import Propagation

    monkeypatch.setitem(strict.MODELLED, "on", True)
    rule = Propagation()
    rule.changed[("123456789012", "role", "r")] = strict.ends_at(60.0)
    call = type("C", (), {"account": "123456789012"})()
    time.sleep(0.01)
    assert not rule.fresh(call, "role", "r")
