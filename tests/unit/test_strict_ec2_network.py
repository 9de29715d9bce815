"""The strict sandbox's EC2 network rules (ngp/sandbox/rules/ec2_network.py), each shown
refusing, by raw boto3 calls, what moto alone accepts."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from ngp.sandbox.rules.ec2_network import NAT_PENDING_SECONDS


def refused(call, code: str) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == code, caught.value.response
    return caught.value.response["Error"]["Message"]


def network(ec2, az: str, igw: bool = True) -> dict:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20",
                               AvailabilityZone=az)["Subnet"]["SubnetId"]
    found = {"vpc": vpc, "subnet": subnet}
    if igw:
        found["igw"] = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=found["igw"], VpcId=vpc)
    return found


def nat_state(ec2, nat_id: str, deadline: float = 10.0) -> dict:
    """The NAT gateway once it is no longer pending."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        item = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]
        if item["State"] != "pending":
            return item
        time.sleep(0.1)
    raise AssertionError(f"{nat_id} still pending after {deadline} s")


# -- ec2.availability-zones -----------------------------------------------------------------

def test_zones_are_the_regions_own(aws):
    ec2 = aws.client("ec2", "ap-northeast-1")
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["ap-northeast-1a", "ap-northeast-1c",
                                             "ap-northeast-1d"]
    assert {z["State"] for z in zones} == {"available"}
    assert {z["OptInStatus"] for z in zones} == {"opt-in-not-required"}
    assert [z["ZoneId"] for z in zones] == ["apne1-az4", "apne1-az1", "apne1-az2"]
    west = aws.client("ec2", "us-west-1").describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in west] == ["us-west-1b", "us-west-1c"]


def test_local_zones_not_opted_in_show_only_with_all_availability_zones(aws):
    ec2 = aws.client("ec2", "us-east-1")
    default = {z["ZoneName"]: z for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    assert default["us-east-1-bos-1a"]["ZoneType"] == "local-zone"
    assert default["us-east-1-bos-1a"]["OptInStatus"] == "opted-in"
    assert "us-east-1-mia-1a" not in default
    everything = ec2.describe_availability_zones(AllAvailabilityZones=True)["AvailabilityZones"]
    mia = next(z for z in everything if z["ZoneName"] == "us-east-1-mia-1a")
    assert mia["OptInStatus"] == "not-opted-in"
    only = ec2.describe_availability_zones(Filters=[
        {"Name": "zone-type", "Values": ["availability-zone"]},
        {"Name": "state", "Values": ["available"]}])["AvailabilityZones"]
    assert [z["ZoneName"][-1] for z in only] == list("abcdef")


def test_a_subnet_in_a_zone_the_region_lacks_is_refused_as_aws_refuses_it(aws):
    ec2 = aws.client("ec2", "ap-northeast-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    message = refused(lambda: ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20",
                                                AvailabilityZone="ap-northeast-1b"),
                      "InvalidParameterValue")
    assert message == ("Value (ap-northeast-1b) for parameter availabilityZone is invalid. "
                       "Subnets can currently only be created in the following availability "
                       "zones: ap-northeast-1a, ap-northeast-1c, ap-northeast-1d.")
    # A zone AWS has and moto's own table lacks is accepted.
    west = aws.client("ec2", "us-west-1")
    vpc = west.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    west.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20", AvailabilityZone="us-west-1c")
    refused(lambda: west.create_subnet(VpcId=vpc, CidrBlock="10.0.16.0/20",
                                       AvailabilityZone="us-west-1a"), "InvalidParameterValue")


def test_a_subnet_in_a_local_zone_not_opted_in_is_refused(aws):
    ec2 = aws.client("ec2", "us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    refused(lambda: ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/20",
                                      AvailabilityZone="us-east-1-mia-1a"),
            "InvalidParameterValue")


# -- ec2.nat-pending and ec2.nat-needs-attached-igw ------------------------------------------

def test_a_new_nat_gateway_is_pending_then_available(aws):
    ec2 = aws.client("ec2")
    net = network(ec2, "us-east-1a")
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    started = time.monotonic()
    nat = ec2.create_nat_gateway(SubnetId=net["subnet"], AllocationId=eip)["NatGateway"]
    assert nat["State"] == "pending"
    described = ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"]
    assert described[0]["State"] == "pending"
    assert nat_state(ec2, nat["NatGatewayId"])["State"] == "available"
    assert time.monotonic() - started >= NAT_PENDING_SECONDS * 0.9


def test_a_public_nat_gateway_with_no_attached_internet_gateway_fails(aws):
    ec2 = aws.client("ec2")
    net = network(ec2, "us-east-1a", igw=False)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=net["subnet"], AllocationId=eip)["NatGateway"]
    item = nat_state(ec2, nat["NatGatewayId"])
    assert item["State"] == "failed"
    assert item["FailureCode"] == "Gateway.NotAttached"
    assert item["FailureMessage"] == f"Network {net['vpc']} has no Internet gateway attached"


# -- ec2.igw-detach-mapped-addresses -------------------------------------------------------

def test_detaching_the_gateway_while_a_nat_gateway_maps_an_address_is_refused(aws):
    ec2 = aws.client("ec2")
    net = network(ec2, "us-east-1a")
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=net["subnet"], AllocationId=eip)["NatGateway"]
    message = refused(lambda: ec2.detach_internet_gateway(InternetGatewayId=net["igw"],
                                                          VpcId=net["vpc"]),
                      "DependencyViolation")
    assert message == (f"Network {net['vpc']} has some mapped public address(es). Please "
                       "unmap those public address(es) before detaching the gateway.")
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    ec2.detach_internet_gateway(InternetGatewayId=net["igw"], VpcId=net["vpc"])


def test_detaching_the_gateway_while_an_instance_has_a_public_ip_is_refused(aws):
    ec2 = aws.client("ec2")
    net = network(ec2, "us-east-1a")
    ec2.modify_subnet_attribute(SubnetId=net["subnet"], MapPublicIpOnLaunch={"Value": True})
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 SubnetId=net["subnet"])["Instances"][0]["InstanceId"]
    refused(lambda: ec2.detach_internet_gateway(InternetGatewayId=net["igw"],
                                                VpcId=net["vpc"]), "DependencyViolation")
    ec2.terminate_instances(InstanceIds=[instance])
    ec2.detach_internet_gateway(InternetGatewayId=net["igw"], VpcId=net["vpc"])


def test_detaching_the_gateway_while_an_elastic_ip_is_associated_is_refused(aws):
    ec2 = aws.client("ec2")
    net = network(ec2, "us-east-1a")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 SubnetId=net["subnet"])["Instances"][0]["InstanceId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    association = ec2.associate_address(AllocationId=eip, InstanceId=instance)["AssociationId"]
    refused(lambda: ec2.detach_internet_gateway(InternetGatewayId=net["igw"],
                                                VpcId=net["vpc"]), "DependencyViolation")
    ec2.disassociate_address(AssociationId=association)
    ec2.detach_internet_gateway(InternetGatewayId=net["igw"], VpcId=net["vpc"])


# -- ec2.delete-in-use ---------------------------------------------------------------------

def test_deleting_a_group_another_groups_rule_names_is_refused(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    source = ec2.create_security_group(GroupName="source", Description="d", VpcId=vpc)["GroupId"]
    user = ec2.create_security_group(GroupName="user", Description="d", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=user, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "UserIdGroupPairs": [{"GroupId": source}]}])
    message = refused(lambda: ec2.delete_security_group(GroupId=source), "DependencyViolation")
    assert message == f"resource {source} has a dependent object"
    ec2.delete_security_group(GroupId=user)
    ec2.delete_security_group(GroupId=source)


def test_deleting_a_group_an_instance_uses_is_refused(aws):
    ec2 = aws.client("ec2")
    net = network(ec2, "us-east-1a", igw=False)
    group = ec2.create_security_group(GroupName="g", Description="d",
                                      VpcId=net["vpc"])["GroupId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 SubnetId=net["subnet"], SecurityGroupIds=[group]
                                 )["Instances"][0]["InstanceId"]
    refused(lambda: ec2.delete_security_group(GroupId=group), "DependencyViolation")
    ec2.terminate_instances(InstanceIds=[instance])
    ec2.delete_security_group(GroupId=group)


def test_deleting_a_subnet_with_an_instance_or_a_nat_gateway_in_it_is_refused(aws):
    ec2 = aws.client("ec2")
    net = network(ec2, "us-east-1a")
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 SubnetId=net["subnet"])["Instances"][0]["InstanceId"]
    message = refused(lambda: ec2.delete_subnet(SubnetId=net["subnet"]), "DependencyViolation")
    assert message == f"The subnet '{net['subnet']}' has dependencies and cannot be deleted."
    ec2.terminate_instances(InstanceIds=[instance])
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=net["subnet"], AllocationId=eip)["NatGateway"]
    refused(lambda: ec2.delete_subnet(SubnetId=net["subnet"]), "DependencyViolation")
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    ec2.delete_subnet(SubnetId=net["subnet"])


def test_deleting_a_vpc_with_an_attached_gateway_or_its_own_group_is_refused(aws):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    message = refused(lambda: ec2.delete_vpc(VpcId=vpc), "DependencyViolation")
    assert message == f"The vpc '{vpc}' has dependencies and cannot be deleted."
    ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    group = ec2.create_security_group(GroupName="g", Description="d", VpcId=vpc)["GroupId"]
    refused(lambda: ec2.delete_vpc(VpcId=vpc), "DependencyViolation")
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)


def test_a_load_balancer_holds_its_subnet_its_group_and_the_gateway(aws):
    ec2, elb = aws.client("ec2"), aws.client("elb")
    net = network(ec2, "us-east-1a")
    group = ec2.create_security_group(GroupName="lb", Description="d",
                                      VpcId=net["vpc"])["GroupId"]
    elb.create_load_balancer(LoadBalancerName="lb", Subnets=[net["subnet"]],
                             SecurityGroups=[group], Listeners=[{
                                 "Protocol": "TCP", "LoadBalancerPort": 80,
                                 "InstanceProtocol": "TCP", "InstancePort": 80}])
    refused(lambda: ec2.delete_security_group(GroupId=group), "DependencyViolation")
    refused(lambda: ec2.delete_subnet(SubnetId=net["subnet"]), "DependencyViolation")
    refused(lambda: ec2.detach_internet_gateway(InternetGatewayId=net["igw"],
                                                VpcId=net["vpc"]), "DependencyViolation")
    elb.delete_load_balancer(LoadBalancerName="lb")
    ec2.delete_security_group(GroupId=group)
    ec2.detach_internet_gateway(InternetGatewayId=net["igw"], VpcId=net["vpc"])
    ec2.delete_subnet(SubnetId=net["subnet"])
