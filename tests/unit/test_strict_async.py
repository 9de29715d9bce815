"""The strict sandbox's slow states and hidden images, seen through raw boto3 calls: what AWS
answers while a machine starts, a domain is built or a health check has not yet passed, and
which images DescribeImages lists (ngp/sandbox/rules/async_states.py, images.py)."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from ngp.sandbox import strict
from ngp.sandbox.rules import async_states
from ngp.sandbox.rules.async_states import HEALTHY_THRESHOLD_NOT_PASSED

RHEL_OWNER, RHEL_NAME = "309956199498", "RHEL-7.4_HVM_GA-*"  # envs/sandbox.toml's DC/OS image
BOUND = 10.0  # seconds any state here may take at most
SLOW = 2.5  # seconds each state lasts in these tests, so a loaded machine still sees it


@pytest.fixture(autouse=True)
def slow_states(monkeypatch):
    """The in-process sandbox reads the rules' delays at each call: longer here than the
    default second, so the first describe after a call always meets the state."""
    for name in ("PENDING_SECONDS", "STOPPING_SECONDS", "PROCESSING_SECONDS",
                 "OUT_OF_SERVICE_SECONDS"):
        monkeypatch.setattr(async_states, name, SLOW)


def until(check, what, bound=BOUND):
    """Poll check (every 0.1 s) until it returns something true; fail after bound seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {bound:.0f}s")


@pytest.fixture
def ec2(aws):
    return aws.client("ec2")


@pytest.fixture
def image_id(ec2):
    return ec2.describe_images(Owners=["099720109477"], Filters=[
        {"Name": "name", "Values": ["ubuntu/images/*xenial*"]}])["Images"][0]["ImageId"]


@pytest.fixture
def subnet(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24",
                             AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]


def state(ec2, id):
    return ec2.describe_instances(InstanceIds=[id])["Reservations"][0]["Instances"][0][
        "State"]["Name"]


def run_one(ec2, image_id, subnet):
    return ec2.run_instances(ImageId=image_id, InstanceType="t3.small", MinCount=1, MaxCount=1,
                             SubnetId=subnet)["Instances"][0]["InstanceId"]


def test_a_new_instance_is_pending_then_running(ec2, image_id, subnet):
    started = time.monotonic()
    id = run_one(ec2, image_id, subnet)
    assert state(ec2, id) == "pending"
    assert not ec2.describe_instances(Filters=[
        {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
    until(lambda: state(ec2, id) == "running", "the instance to run")
    assert time.monotonic() - started >= SLOW


def test_an_instance_that_never_ran_cannot_be_stopped(ec2, image_id, subnet):
    id = run_one(ec2, image_id, subnet)
    with pytest.raises(ClientError) as refused:
        ec2.stop_instances(InstanceIds=[id])
    assert refused.value.response["Error"]["Code"] == "IncorrectInstanceState"
    assert "never reached the 'running' state" in refused.value.response["Error"]["Message"]


def test_a_stopped_instance_is_stopping_then_stopped_and_a_started_one_pending(ec2, image_id,
                                                                              subnet):
    id = run_one(ec2, image_id, subnet)
    until(lambda: state(ec2, id) == "running", "the instance to run")
    ec2.stop_instances(InstanceIds=[id])
    assert state(ec2, id) == "stopping"
    with pytest.raises(ClientError) as refused:
        ec2.start_instances(InstanceIds=[id])
    assert refused.value.response["Error"]["Code"] == "IncorrectInstanceState"
    until(lambda: state(ec2, id) == "stopped", "the instance to stop")
    ec2.start_instances(InstanceIds=[id])
    assert state(ec2, id) == "pending"
    until(lambda: state(ec2, id) == "running", "the instance to run again")


def test_the_instances_a_group_launches_are_pending_at_first(aws, ec2, image_id, subnet):
    template = ec2.create_launch_template(LaunchTemplateName="tpl", LaunchTemplateData={
        "ImageId": image_id, "InstanceType": "t3.small"})["LaunchTemplate"]["LaunchTemplateId"]
    aws.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="grp", LaunchTemplate={"LaunchTemplateId": template},
        MinSize=2, MaxSize=2, DesiredCapacity=2, VPCZoneIdentifier=subnet)
    states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
              for i in r["Instances"]]
    assert states == ["pending", "pending"]
    until(lambda: all(i["State"]["Name"] == "running"
                      for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]),
          "the group's instances to run")


DOMAIN = {"DomainName": "dom", "EngineVersion": "OpenSearch_2.11",
          "ClusterConfig": {"InstanceType": "t3.small.search", "InstanceCount": 1},
          "EBSOptions": {"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": 10}}


def test_a_new_domain_is_processing_without_endpoint_then_active(aws):
    search = aws.client("opensearch")
    started = time.monotonic()
    created = search.create_domain(**DOMAIN)["DomainStatus"]
    assert created["Processing"] and not created["Created"] and "Endpoint" not in created
    now = search.describe_domain(DomainName="dom")["DomainStatus"]
    assert now["Processing"] and "Endpoint" not in now
    assert "Endpoint" not in search.describe_domains(DomainNames=["dom"])["DomainStatusList"][0]
    active = until(lambda: (s := search.describe_domain(DomainName="dom")["DomainStatus"])
                   and not s["Processing"] and s, "the domain to be active")
    assert active["Endpoint"] and active["Created"]
    assert time.monotonic() - started >= SLOW


def test_a_new_vpc_domain_holds_back_its_vpc_endpoint_too(aws, subnet):
    aws.client("iam").create_service_linked_role(AWSServiceName="opensearchservice.amazonaws.com")
    search = aws.client("opensearch")
    created = search.create_domain(**DOMAIN, VPCOptions={"SubnetIds": [subnet]})["DomainStatus"]
    assert created["Processing"] and "Endpoints" not in created and "Endpoint" not in created
    assert "Endpoints" not in search.describe_domain(DomainName="dom")["DomainStatus"]
    assert "Endpoints" not in search.describe_domains(
        DomainNames=["dom"])["DomainStatusList"][0]
    active = until(lambda: (s := search.describe_domain(DomainName="dom")["DomainStatus"])
                   and not s["Processing"] and s, "the domain to be active")
    assert active["Endpoints"]["vpc"] and "Endpoint" not in active


def test_a_changed_domain_is_processing_again_and_keeps_its_endpoint(aws):
    search = aws.client("opensearch")
    search.create_domain(**DOMAIN)
    until(lambda: not search.describe_domain(DomainName="dom")["DomainStatus"]["Processing"],
          "the domain to be active")
    search.update_domain_config(DomainName="dom", AccessPolicies=json.dumps({
        "Version": "2012-10-17", "Statement": []}))
    changing = search.describe_domain(DomainName="dom")["DomainStatus"]
    assert changing["Processing"] and changing["Endpoint"]
    until(lambda: not search.describe_domain(DomainName="dom")["DomainStatus"]["Processing"],
          "the change to finish")


def test_a_registered_instance_is_out_of_service_then_in_service(aws, ec2, image_id, subnet):
    elb = aws.client("elb")
    elb.create_load_balancer(LoadBalancerName="lb", Subnets=[subnet], Listeners=[
        {"Protocol": "TCP", "LoadBalancerPort": 80, "InstancePort": 80}])
    id = run_one(ec2, image_id, subnet)
    elb.register_instances_with_load_balancer(LoadBalancerName="lb",
                                              Instances=[{"InstanceId": id}])

    def health():
        return elb.describe_instance_health(LoadBalancerName="lb")["InstanceStates"][0]

    assert health() == {"InstanceId": id, "State": "OutOfService", "ReasonCode": "Instance",
                        "Description": "Instance is in pending state."}
    until(lambda: state(ec2, id) == "running", "the instance to run")
    registered = time.monotonic()
    elb.deregister_instances_from_load_balancer(LoadBalancerName="lb",
                                                Instances=[{"InstanceId": id}])
    elb.register_instances_with_load_balancer(LoadBalancerName="lb",
                                              Instances=[{"InstanceId": id}])
    assert health() == {"InstanceId": id, "State": "OutOfService", "ReasonCode": "ELB",
                        "Description": HEALTHY_THRESHOLD_NOT_PASSED}
    until(lambda: health()["State"] == "InService", "the instance to be in service")
    assert time.monotonic() - registered >= SLOW


def rhel_images(ec2, **params):
    return ec2.describe_images(Owners=[RHEL_OWNER], Filters=[
        {"Name": "name", "Values": [RHEL_NAME]}], **params)["Images"]


def test_deprecated_images_are_hidden_unless_asked_for(ec2):
    assert rhel_images(ec2) == []
    shown = rhel_images(ec2, IncludeDeprecated=True)
    assert [i["Name"] for i in shown] == ["RHEL-7.4_HVM_GA-20170808-x86_64-2-Hourly2-GP2"]
    assert shown[0]["DeprecationTime"] == "2024-06-30T00:00:00.000Z"
    by_id = ec2.describe_images(ImageIds=[shown[0]["ImageId"]])["Images"]
    assert [i["ImageId"] for i in by_id] == [shown[0]["ImageId"]]


def test_images_not_deprecated_are_listed_as_before(ec2):
    ubuntu = ec2.describe_images(Owners=["099720109477"], Filters=[
        {"Name": "name", "Values": ["ubuntu/images/*xenial*"]}])["Images"]
    assert ubuntu and all("DeprecationTime" not in i for i in ubuntu)


def test_under_the_model_the_states_take_no_time(monkeypatch, ec2, image_id, subnet):
    # The model's call times already hold them (ngp/sandbox/model.py): not counted twice.
    monkeypatch.setitem(strict.MODELLED, "on", True)
    assert state(ec2, run_one(ec2, image_id, subnet)) == "running"
