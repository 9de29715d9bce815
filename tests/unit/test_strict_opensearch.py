"""The strict sandbox's VPC domain rules (ngp/sandbox/rules/opensearch.py), each shown refusing,
by raw boto3 calls, what moto alone accepts, and accepting what AWS accepts."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.unit.test_strict_ec2_network import refused


@pytest.fixture
def vpc(aws):
    """A VPC with a subnet in each of three zones, and a security group."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{16 * i}.0/20",
                                 AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("abc")]
    group = ec2.create_security_group(GroupName="d", Description="d", VpcId=vpc)["GroupId"]
    return {"id": vpc, "subnets": subnets, "group": group}


@pytest.fixture
def linked_role(aws):
    aws.client("iam").create_service_linked_role(AWSServiceName="opensearchservice.amazonaws.com")


def create(aws, vpc, subnets: int, nodes: int = 1, zones: int | None = None) -> dict:
    cluster = {"InstanceType": "t3.small.search", "InstanceCount": nodes}
    if zones:
        cluster.update(ZoneAwarenessEnabled=True,
                       ZoneAwarenessConfig={"AvailabilityZoneCount": zones})
    return aws.client("opensearch").create_domain(
        DomainName="dom", EngineVersion="OpenSearch_2.11", ClusterConfig=cluster,
        VPCOptions={"SubnetIds": vpc["subnets"][:subnets],
                    "SecurityGroupIds": [vpc["group"]]})["DomainStatus"]


def test_a_vpc_domain_needs_the_service_linked_role(aws, vpc):
    message = refused(lambda: create(aws, vpc, 1), "ValidationException")
    assert message.startswith("Before you can proceed, you must enable a service-linked role")
    aws.client("iam").create_service_linked_role(AWSServiceName="es.amazonaws.com")  # legacy
    assert create(aws, vpc, 1)["DomainName"] == "dom"


def test_a_public_domain_needs_no_service_linked_role(aws):
    aws.client("opensearch").create_domain(DomainName="dom", EngineVersion="OpenSearch_2.11")


@pytest.mark.parametrize(("subnets", "nodes", "zones", "message"), [
    (2, 2, None, "You must specify exactly one subnet."),
    (3, 2, 2, "You must specify exactly two subnets because you’ve set zone count to two."),
    (2, 3, 3, "You must specify exactly three subnets because you’ve set zone count to three."),
    (2, 3, 2, "You must choose an even number of data nodes for a two Availability Zone "
              "deployment"),
])
def test_subnets_not_one_per_zone_are_refused(aws, vpc, linked_role, subnets, nodes, zones,
                                              message):
    assert refused(lambda: create(aws, vpc, subnets, nodes, zones),
                   "ValidationException") == message
    assert aws.client("opensearch").list_domain_names()["DomainNames"] == []


@pytest.mark.parametrize(("subnets", "nodes", "zones"), [(1, 1, None), (1, 2, None),
                                                         (2, 2, 2), (3, 3, 3), (3, 4, 3)])
def test_one_subnet_per_zone_is_accepted_and_shown_with_its_vpc(aws, vpc, linked_role,
                                                               subnets, nodes, zones):
    create(aws, vpc, subnets, nodes, zones)
    shown = aws.client("opensearch").describe_domain(DomainName="dom")["DomainStatus"]
    assert shown["VPCOptions"] == {
        "VPCId": vpc["id"], "SubnetIds": vpc["subnets"][:subnets],
        "AvailabilityZones": [f"us-east-1{z}" for z in "abc"[:subnets]],
        "SecurityGroupIds": [vpc["group"]]}


def test_an_update_is_checked_against_the_domains_own_zones(aws, vpc, linked_role):
    create(aws, vpc, 2, 2, 2)
    search = aws.client("opensearch")
    with pytest.raises(ClientError, match="exactly two subnets"):
        search.update_domain_config(DomainName="dom", VPCOptions={
            "SubnetIds": vpc["subnets"][:1], "SecurityGroupIds": [vpc["group"]]})
    search.update_domain_config(DomainName="dom", VPCOptions={
        "SubnetIds": vpc["subnets"][1:], "SecurityGroupIds": [vpc["group"]]})
    shown = search.describe_domain(DomainName="dom")["DomainStatus"]["VPCOptions"]
    assert shown["AvailabilityZones"] == ["us-east-1b", "us-east-1c"]
