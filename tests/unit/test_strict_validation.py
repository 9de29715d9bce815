"""The values AWS refuses and moto takes (ngp/sandbox/rules/validation.py): each refused
through the strict layer with AWS's code, and ngp's own settings refusing them first."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError

TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def code(caught) -> str:
    return caught.value.response["Error"]["Code"]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


@pytest.fixture
def role_arn(aws):
    return aws.client("iam").create_role(RoleName="fn", Path="/ngp/test/",
                                         AssumeRolePolicyDocument=json.dumps(TRUST)
                                         )["Role"]["Arn"]


@pytest.fixture
def seen_role_arn(role_arn):
    """A role Lambda can assume: iam.propagation keeps a new one unseen for a while."""
    import time

    from ngp.sandbox.rules.iam import PROPAGATION_SECONDS

    time.sleep(PROPAGATION_SECONDS)
    return role_arn


def test_a_retention_aws_does_not_offer_is_refused(aws):
    logs = aws.client("logs")
    logs.create_log_group(logGroupName="/ngp/test")
    with pytest.raises(ClientError) as caught:
        logs.put_retention_policy(logGroupName="/ngp/test", retentionInDays=15)
    assert code(caught) == "InvalidParameterException"
    logs.put_retention_policy(logGroupName="/ngp/test", retentionInDays=14)


@pytest.mark.parametrize(("expression", "valid"), [
    ("rate(1 minute)", True), ("rate(5 minutes)", True), ("rate(1 hour)", True),
    ("rate(1 hours)", False), ("rate(5 hour)", False), ("rate(0 minutes)", False),
    ("every hour", False), ("cron(0 * * * ? *)", True), ("cron(0 * * *)", False)])
def test_schedule_expressions_as_eventbridge_reads_them(aws, expression, valid):
    events = aws.client("events")
    if valid:
        events.put_rule(Name="r", ScheduleExpression=expression)
        return
    with pytest.raises(ClientError) as caught:
        events.put_rule(Name="r", ScheduleExpression=expression)
    assert code(caught) == "ValidationException"


def test_ngp_schedules_pass_the_rule():
    from ngp.modules.marathon_snapshot import schedule
    from ngp.sandbox.rules.validation import valid_schedule

    assert all(valid_schedule(schedule(m)) for m in (1, 2, 5, 60, 1440))


@pytest.mark.parametrize(("runtime", "expected"), [
    ("python3.99", "ValidationException"), ("python3.8", "InvalidParameterValueException"),
    ("nodejs16.x", "InvalidParameterValueException")])
def test_a_runtime_lambda_does_not_run_is_refused(aws, role_arn, runtime, expected):
    """The runtime is checked before the role (a request's shape before the state of
    things): the role here is too new for Lambda, yet the runtime is what is refused."""
    with pytest.raises(ClientError) as caught:
        aws.client("lambda").create_function(
            FunctionName="f", Runtime=runtime, Role=role_arn, Handler="handler.handler",
            Code={"ZipFile": _zip()})
    assert code(caught) == expected


def test_a_statement_id_is_added_once(aws, seen_role_arn):
    fn = aws.client("lambda")
    fn.create_function(FunctionName="f", Runtime="python3.12", Role=seen_role_arn,
                       Handler="handler.handler", Code={"ZipFile": _zip()})
    permission = {"FunctionName": "f", "StatementId": "events", "Action":
                  "lambda:InvokeFunction", "Principal": "events.amazonaws.com"}
    fn.add_permission(**permission)
    with pytest.raises(ClientError) as caught:
        fn.add_permission(**permission)
    assert code(caught) == "ResourceConflictException"
    fn.add_permission(**{**permission, "StatementId": "other"})


@pytest.mark.parametrize("document", [
    "not json",
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                             "Principal": {"Service": "ec2.amazonaws.com"},
                                             "Resource": "*"}]},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                             "Principal": {"Service": "ec2.amazonaws.com"}}]}])
def test_a_malformed_trust_policy_is_refused(aws, document):
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(ClientError) as caught:
        aws.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=text)
    assert code(caught) == "MalformedPolicyDocument"


@pytest.mark.parametrize("env", ["sandbox", "prod"])
def test_every_trust_policy_ngp_writes_passes(aws, env):
    from tests.unit.test_permissions import settings_and_graph

    iam = aws.client("iam")
    roles = [r for r in settings_and_graph(env)[1].resources.values() if r.kind == "iam.role"]
    assert roles
    for role in roles:  # each accepted by the strict layer, or the create raises
        iam.create_role(RoleName=role.spec["name"],
                        AssumeRolePolicyDocument=json.dumps(role.spec["trust"]))


def test_an_attached_policy_cannot_be_deleted(aws, role_arn):
    iam = aws.client("iam")
    arn = iam.create_policy(PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="fn", PolicyArn=arn)
    with pytest.raises(ClientError) as caught:
        iam.delete_policy(PolicyArn=arn)
    assert code(caught) == "DeleteConflict"
    iam.detach_role_policy(RoleName="fn", PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)


def test_a_domain_name_is_created_once(aws):
    search = aws.client("opensearch")
    search.create_domain(DomainName="ngp-elk-test", EngineVersion="OpenSearch_2.11")
    with pytest.raises(ClientError) as caught:
        search.create_domain(DomainName="ngp-elk-test", EngineVersion="OpenSearch_2.11")
    assert code(caught) == "ResourceAlreadyExistsException"


def test_a_balancer_refuses_an_instance_ec2_does_not_know(aws):
    elb = aws.client("elb")
    elb.create_load_balancer(LoadBalancerName="lb", AvailabilityZones=["us-east-1a"],
                             Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 80,
                                         "InstancePort": 80}])
    with pytest.raises(ClientError) as caught:
        elb.register_instances_with_load_balancer(
            LoadBalancerName="lb", Instances=[{"InstanceId": "i-0123456789abcdef0"}])
    assert code(caught) == "InvalidInstance"


# -- ngp's settings refuse these before any AWS call ---------------------------------------


@pytest.mark.parametrize(("key", "value"), [("log_retention_days", 15),
                                            ("runtime", "python3.8"),
                                            ("runtime", "python3.99")])
def test_snapshot_settings_refuse_what_aws_refuses(key, value):
    from pydantic import ValidationError

    from ngp.modules.marathon_snapshot import SnapshotSettings

    with pytest.raises(ValidationError):
        SnapshotSettings(**{key: value})
    SnapshotSettings(log_retention_days=14, runtime="python3.13")


def test_the_settings_and_the_rule_share_aws_s_retention_list():
    import typing

    from ngp.modules.marathon_snapshot import RetentionDays
    from ngp.sandbox.rules.validation import RETENTION_DAYS

    assert typing.get_args(RetentionDays) == RETENTION_DAYS


def test_an_instance_type_the_zone_does_not_offer_is_refused(aws):
    """us-east-1e offers no t3 or m5 (AWS's offerings, as moto keeps them)."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    e = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24",
                          AvailabilityZone="us-east-1e")["Subnet"]["SubnetId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24",
                          AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    with pytest.raises(ClientError) as caught:
        ec2.run_instances(ImageId=image, InstanceType="m5.xlarge", MinCount=1, MaxCount=1,
                          SubnetId=e)
    assert code(caught) == "Unsupported"
    assert "us-east-1a" in caught.value.response["Error"]["Message"]
    ec2.run_instances(ImageId=image, InstanceType="m5.xlarge", MinCount=1, MaxCount=1,
                      SubnetId=a)
