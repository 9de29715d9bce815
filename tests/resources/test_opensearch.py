"""The OpenSearch domain in the VPC, against the strict sandbox: created in compatibility mode
in its subnets behind its group (after the service-linked role it needs), its endpoint the
VPC one and never recorded empty, and the changes AWS cannot make in place planned as
replacements."""

from __future__ import annotations

import json

import pytest

from ngp.graph import Graph, Resource
from ngp.plan import Action, make_plan
from ngp.resources import get_kind
from ngp.state import Recorded, State

POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "es:ESHttp*",
    "Resource": "arn:aws:es:us-east-1:123456789012:domain/ngp-elk-test/*"}]}
PUBLIC = {"name": "ngp-elk-test", "engine_version": "OpenSearch_2.11",
          "instance_type": "t3.small.search", "instance_count": 1, "volume_size": 20,
          "timeout": 60, "access_policy": POLICY}


@pytest.fixture
def zones(ctx, vpc_id, subnet_id, sg_id):
    """The VPC's subnets in us-east-1a and us-east-1b, and a group."""
    other = get_kind("ec2.subnet").create(ctx, "network.subnet.b", {
        "name": "s2", "vpc_id": vpc_id, "cidr": "10.0.16.0/20", "az": "us-east-1b",
        "public": False})[0]
    return {"vpc": vpc_id, "subnets": [subnet_id, other], "group": sg_id}


def in_vpc(zones, count=1):
    return {**PUBLIC, "instance_count": count, "compatibility_mode": True,
            "vpc_id": zones["vpc"], "subnet_ids": zones["subnets"][:count],
            "security_group_ids": [zones["group"]]}


def test_a_vpc_domain_is_made_in_compatibility_mode_in_its_subnets(ctx, zones):
    kind = get_kind("opensearch.domain")
    id, outputs = kind.create(ctx, "elk.domain", in_vpc(zones, 2))
    status = ctx.aws.client("opensearch").describe_domain(DomainName=id)["DomainStatus"]
    assert status["AdvancedOptions"]["override_main_response_version"] == "true"
    assert status["VPCOptions"]["SubnetIds"] == zones["subnets"]
    assert status["VPCOptions"]["SecurityGroupIds"] == [zones["group"]]
    assert status["ClusterConfig"]["ZoneAwarenessEnabled"] is True
    assert status["ClusterConfig"]["ZoneAwarenessConfig"] == {"AvailabilityZoneCount": 2}
    assert "Endpoint" not in status
    assert outputs["endpoint"] == status["Endpoints"]["vpc"]
    assert outputs["dashboards_url"] == f"https://{status['Endpoints']['vpc']}/_dashboards"
    roles = ctx.aws.client("iam").list_roles(
        PathPrefix="/aws-service-role/opensearchservice.amazonaws.com/")["Roles"]
    assert len(roles) == 1  # made before the create, which the strict sandbox refuses without
    # A second domain in the account: the role it has is fine.
    kind.create(ctx, "elk.other", {**in_vpc(zones), "name": "ngp-elk-other"})
    live = kind.read(ctx, id)
    assert {k: live[k] for k in ("compatibility_mode", "vpc_id", "subnet_ids",
                                 "security_group_ids")} == {
        "compatibility_mode": True, "vpc_id": zones["vpc"], "subnet_ids": zones["subnets"],
        "security_group_ids": [zones["group"]]}


def test_a_vpc_domain_an_interrupted_create_left_is_adopted_with_its_vpc_endpoint(ctx, zones):
    kind = get_kind("opensearch.domain")
    spec = in_vpc(zones)
    ctx.aws.client("iam").create_service_linked_role(
        AWSServiceName="opensearchservice.amazonaws.com")
    ctx.aws.client("opensearch").create_domain(
        DomainName=spec["name"], EngineVersion=spec["engine_version"],
        AccessPolicies=json.dumps(POLICY), VPCOptions={"SubnetIds": spec["subnet_ids"]},
        TagList=[{"Key": k, "Value": v} for k, v in ctx.tags("elk.domain", spec["name"]).items()])
    creating = kind.read(ctx, spec["name"])
    assert creating["status"] != "active"
    assert creating["endpoint"] == creating["dashboards_url"] == ""
    _, live = kind.find(ctx, "elk.domain", spec)  # waits until active: never recorded empty
    assert live["endpoint"] == f"{spec['name']}.us-east-1.es.amazonaws.com"  # moto's VPC one


def plan_for(kind, spec, recorded_spec, live):
    state = State(env="test")
    state.resources["elk.domain"] = Recorded(kind.name, live["id"], recorded_spec,
                                             kind.outputs_of(live))
    plan = make_plan(Graph.of([Resource("elk.domain", kind.name, spec)]), state,
                     {"elk.domain": live})
    return plan.changes[0]


def test_moving_a_public_domain_into_the_vpc_replaces_it(ctx, zones):
    kind = get_kind("opensearch.domain")
    id, _ = kind.create(ctx, "elk.domain", PUBLIC)  # as ngp made them before
    change = plan_for(kind, in_vpc(zones), PUBLIC, kind.read(ctx, id))
    assert change.action == Action.REPLACE
    forcing = {f.name for f in change.fields if f.forces_replacement}
    assert forcing == {"vpc_id", "compatibility_mode"}


def test_new_subnets_or_groups_in_the_same_vpc_change_it_in_place(ctx, zones, vpc_id):
    kind = get_kind("opensearch.domain")
    spec = in_vpc(zones)
    id, _ = kind.create(ctx, "elk.domain", spec)
    group = ctx.aws.client("ec2").create_security_group(
        GroupName="g2", Description="g2", VpcId=vpc_id)["GroupId"]
    moved = {**in_vpc(zones, 2), "security_group_ids": [zones["group"], group]}
    change = plan_for(kind, moved, spec, kind.read(ctx, id))
    assert change.action == Action.UPDATE
    kind.update(ctx, id, spec, moved)
    live = kind.read(ctx, id)
    assert live["subnet_ids"] == zones["subnets"] and live["instance_count"] == 2
    assert live["security_group_ids"] == sorted([zones["group"], group])
