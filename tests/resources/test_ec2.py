"""Every kind's lifecycle against moto: create, read shows the spec (so the plan is empty),
find adopts it, change it (update or replace), delete, read is None, delete again is fine."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from botocore.exceptions import ClientError

from ngp.aws import iam_action
from ngp.errors import ResourceError
from ngp.resources import KINDS, get_kind
from tests.resources.conftest import TRUST, function_spec, policy

ADDRESS = "network.thing[a]"  # brackets, as in indexed addresses


def _rule(port, cidr="203.0.113.0/24", description="d"):
    return {"protocol": "tcp", "from_port": port, "to_port": port, "cidr": cidr,
            "description": description}


PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "
              "test")
OTHER_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBhTpL3xCcUrmW0Chp2mJQyj4HFUDpZ53uo9kKgyEsvM "
             "other")

def es_policy(action="es:ESHttp*"):
    """A VPC domain's policy: no IP condition (AWS allows none there; its group is the gate)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": action,
        "Resource": "arn:aws:es:us-east-1:123456789012:domain/ngp-elk-test/*"}]}


SHA256_TWO = hashlib.sha256(b"#!/bin/sh\necho two\n").hexdigest()  # conftest's object_files

# kind -> (spec builder, change builder, expected action for the change)
CASES = {
    "ec2.vpc": (
        lambda f: {"name": "v", "cidr": "10.1.0.0/16", "dns_support": True,
                   "dns_hostnames": True},
        lambda s: {**s, "name": "v2", "dns_hostnames": False}, "update"),
    "ec2.subnet": (
        lambda f: {"name": "s", "vpc_id": f("vpc_id"), "cidr": "10.0.16.0/20",
                   "az": "us-east-1b", "public": False},
        lambda s: {**s, "public": True}, "update"),
    "ec2.internet_gateway": (
        lambda f: {"name": "i", "vpc_id": f("vpc_id")},
        lambda s: {**s, "name": "i2"}, "update"),
    "ec2.eip": (lambda f: {"name": "e"}, lambda s: {"name": "e2"}, "update"),
    "ec2.nat_gateway": (
        lambda f: {"name": "n", "subnet_id": f("nat_subnet_id"),
                   "allocation_id": f("eip_id")},
        lambda s: {**s, "name": "n2"}, "update"),
    "ec2.route_table": (
        lambda f: {"name": "r", "vpc_id": f("vpc_id"),
                   "routes": [{"cidr": "0.0.0.0/0", "gateway_id": f("igw_id")}]},
        lambda s: {**s, "routes": [{"cidr": "192.0.2.0/24", "gateway_id": s["routes"][0][
            "gateway_id"]}]}, "update"),
    "ec2.route_table_association": (
        lambda f: {"subnet_id": f("subnet_id"), "route_table_id": f("route_table_id")},
        None, "replace"),
    "ec2.security_group": (
        lambda f: {"name": "g", "description": "d", "vpc_id": f("vpc_id"), "ingress": [
            _rule(22), _rule(443, "0.0.0.0/0"),
            {"protocol": "-1", "from_port": -1, "to_port": -1, "self": True,
             "description": "members"},
            {"protocol": "icmp", "from_port": 8, "to_port": -1, "cidr": "10.0.0.0/8",
             "description": "ping"}]},
        lambda s: {**s, "ingress": [_rule(22), _rule(80, "0.0.0.0/0")]}, "update"),
    "iam.role": (
        lambda f: {"name": "ngp-r", "path": "/ngp/test/", "description": "d", "trust": TRUST,
                   "policies": {"read": policy("s3:GetObject")},
                   "managed_policies": [f("policy_arn")]},
        lambda s: {**s, "policies": {"write": policy("s3:PutObject")},
                   "managed_policies": []}, "update"),
    "iam.instance_profile": (
        lambda f: {"name": "ngp-p", "path": "/ngp/test/", "role": f("role_name")},
        lambda s: {**s, "role": None}, "update"),
    "secretsmanager.secret": (
        lambda f: {"name": "ngp-s", "description": "d", "generate": "password"},
        lambda s: {**s, "description": "d2"}, "update"),
    "ec2.key_pair": (lambda f: {"name": "ngp-k", "public_key": PUBLIC_KEY}, None, "replace"),
    "ec2.instance": (
        lambda f: {"name": "i", "image_id": f("image")["id"],
                   "root_device_name": f("image")["root_device_name"],
                   "instance_type": "t3.small", "subnet_id": f("subnet_id"),
                   "security_group_ids": [], "key_name": None,
                   "instance_profile": f("profile_arn"), "user_data": "#!/bin/sh\necho hi\n",
                   "root_volume_size": 12, "root_volume_type": "gp3"},
        lambda s: {**s, "name": "i2", "instance_type": "t3.medium"}, "update"),
    "ec2.eip_association": (
        lambda f: {"allocation_id": f("eip_id"), "instance_id": f("instance_id")},
        None, "replace"),
    "route53.record": (
        lambda f: {"zone_id": f("zone_id"), "name": "vpn.example.com", "type": "A",
                   "ttl": 300, "values": ["192.0.2.10"]},
        lambda s: {**s, "values": ["192.0.2.11", "192.0.2.12"]}, "update"),
    "ec2.launch_template": (
        lambda f: {"name": "ngp-lt", "image_id": f("image")["id"],
                   "root_device_name": f("image")["root_device_name"],
                   "instance_type": "t3.small", "security_group_ids": [], "key_name": None,
                   "instance_profile": None, "user_data": "#!/bin/sh\n",
                   "root_volume_size": 10, "root_volume_type": "gp3"},
        lambda s: {**s, "instance_type": "t3.large"}, "update"),
    "autoscaling.group": (
        lambda f: {"name": "ngp-g", "launch_template_id": f("launch_template")["id"],
                   "launch_template_version": "1", "min_size": 1, "max_size": 2,
                   "desired_capacity": 1, "subnet_ids": [f("subnet_id")],
                   "load_balancer_names": [], "health_check_type": "EC2",
                   "health_check_grace_period": 300},
        lambda s: {**s, "min_size": 2, "desired_capacity": 2}, "update"),
    "elb.load_balancer": (
        lambda f: {"name": "ngp-lb", "scheme": "internal", "subnets": [f("subnet_id")],
                   "security_groups": [f("sg_id")], "cross_zone": True,
                   "listeners": [{"protocol": "TCP", "port": 80, "instance_protocol": "TCP",
                                  "instance_port": 80}],
                   "health_check": {"target": "TCP:80", "interval": 30, "timeout": 5,
                                    "healthy": 2, "unhealthy": 2}},
        lambda s: {**s, "listeners": [{"protocol": "TCP", "port": 443,
                                       "instance_protocol": "TCP", "instance_port": 443}],
                   "health_check": {**s["health_check"], "target": "TCP:443"}}, "update"),
    "elb.attachment": (
        lambda f: {"load_balancer": f("lb_name"),
                   "instances": [f("instance_id"), f("other_instance_id")]},
        lambda s: {**s, "instances": s["instances"][:1]}, "update"),
    "marathon.ready": (lambda f: {"dcos_url": "http://dcos.example.com", "timeout": 30},
                       None, "gate"),
    "ecr.repository": (
        lambda f: {"name": "ngp-test/app", "tag_mutability": "MUTABLE", "scan_on_push": True,
                   "keep_images": 30},
        lambda s: {**s, "tag_mutability": "IMMUTABLE", "scan_on_push": False,
                   "keep_images": 5}, "update"),
    "opensearch.domain": (
        lambda f: {"name": "ngp-elk-test", "engine_version": "OpenSearch_2.11",
                   "instance_type": "t3.small.search", "instance_count": 1,
                   "volume_size": 20, "timeout": 60, "access_policy": es_policy(),
                   "compatibility_mode": True, "vpc_id": f("vpc_id"),
                   "subnet_ids": [f("subnet_id")], "security_group_ids": [f("sg_id")]},
        lambda s: {**s, "instance_count": 2, "access_policy": es_policy("es:ESHttpGet")},
        "update"),
    "lambda.function": (
        lambda f: function_spec("ngp-fn", f("lambda_role_arn")),
        lambda s: {**s, "timeout": 90, "memory": 256, "environment": {"BUCKET": "c"}}, "update"),
    "lambda.permission": (
        lambda f: {"function": f("function")["name"], "statement_id": "schedule",
                   "principal": "events.amazonaws.com", "source_arn": f("rule")["arn"]},
        None, "replace"),
    "events.rule": (
        lambda f: {"name": "ngp-rule", "schedule": "rate(60 minutes)", "description": "d",
                   "enabled": True},
        lambda s: {**s, "schedule": "rate(30 minutes)", "enabled": False}, "update"),
    "events.target": (
        lambda f: {"rule": f("rule")["name"], "target_id": "snapshot",
                   "arn": f("function")["arn"]},
        lambda s: {**s, "arn": s["arn"] + ":live"}, "update"),
    "apigateway.rest_api": (
        lambda f: {"name": "ngp-api", "description": "d", "routes": [
            {"path": "restore", "method": "POST", "authorization": "AWS_IAM",
             "function_arn": f("function")["arn"]}]},
        lambda s: {**s, "description": "d2"}, "update"),
    "apigateway.stage": (lambda f: {"rest_api_id": f("rest_api_id"), "name": "v1"}, None,
                         "replace"),
    "logs.group": (lambda f: {"name": "/aws/lambda/ngp-fn", "retention_days": 30},
                   lambda s: {**s, "retention_days": 7}, "update"),
    "marathon.app": (
        # On the local Marathon's 2 private and 1 public agents: 3 UNIQUE tasks need both
        # roles, and the update rolls through the one free node.
        lambda f: {"id": "/platform/web", "cmd": "sleep 1000", "instances": 2, "cpus": 0.1,
                   "mem": 64, "constraints": [["hostname", "UNIQUE"]],
                   "acceptedResourceRoles": ["*", "slave_public"],
                   "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}}]},
        lambda s: {**s, "instances": 3, "labels": {"team": "platform"}}, "update"),
    "iam.policy": (
        lambda f: {"name": "ngp-access", "path": "/ngp/test/", "description": "d",
                   "document": policy("s3:GetObject")},
        lambda s: {**s, "document": policy("s3:PutObject")}, "update"),
    "s3.object": (
        lambda f: {"bucket": f("object_bucket"), "key": "installer/dcos_generate_config.sh",
                   "source": f("object_files")["one"][0], "sha256": f("object_files")["one"][1]},
        lambda s: {**s, "source": s["source"].replace("one", "two"), "sha256": SHA256_TWO},
        "update"),
    "s3.bucket": (lambda f: {"name": "ngp-registry-test-123456789012", "versioning": False},
                  lambda s: {**s, "versioning": True}, "update"),
    "ec2.image": (lambda f: {"owners": ["099720109477"], "name": "ubuntu/images/*"}, None,
                  "read-only"),
    "route53.zone": (lambda f: {"domain": f("zone_id") and "example.com"}, None, "read-only"),
    "ec2.existing_vpc": (lambda f: {"id": f("vpc_id")}, None, "read-only"),
    "ec2.existing_subnet": (lambda f: {"id": f("subnet_id")}, None, "read-only"),
}


def test_every_registered_kind_has_a_lifecycle_case():
    assert set(KINDS) == set(CASES)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_kind_keeps_the_contract(name):
    kind = get_kind(name)
    service, _, noun = name.partition(".")
    assert service and noun and kind.service
    assert "id" in kind.outputs
    assert kind.__doc__, f"{name} needs a docstring with an example spec"
    assert isinstance(kind.actions, tuple)
    assert kind.actions or kind.service == "marathon", "ngp permissions needs them"
    assert all(a.count(":") == 1 and a.split(":")[1][0].isupper() for a in kind.actions)


def visible(kind, live, spec):
    """The spec's fields as the live object shows them."""
    return {k: live[k] for k in spec if k in live}, kind.canonical(
        {k: spec[k] for k in spec if k in live})


@pytest.mark.parametrize("name", sorted(CASES))
def test_lifecycle(name, ctx, request):
    kind = get_kind(name)
    build, change, expected = CASES[name]

    def fixture(fname):
        if fname == "route_table_id":
            igw = request.getfixturevalue("igw_id")
            return get_kind("ec2.route_table").create(ctx, "network.rt", {
                "name": "r", "vpc_id": request.getfixturevalue("vpc_id"),
                "routes": [{"cidr": "0.0.0.0/0", "gateway_id": igw}]})[0]
        return request.getfixturevalue(fname)

    if kind.service == "marathon":
        ctx = replace(ctx, marathons=request.getfixturevalue("marathons"))
    spec = kind.canonical(build(fixture))
    if kind.read_only and "id" not in spec:
        live = kind.lookup(ctx, spec)
        assert set(kind.outputs) <= set(live)
        assert kind.read(ctx, live["id"])["id"] == live["id"]
        return
    if kind.read_only:
        found = kind.read_many(ctx, [spec["id"]])
        assert set(found) == {spec["id"]}
        assert set(kind.outputs) <= set(found[spec["id"]])
        assert kind.read_many(ctx, ["vpc-0000000000000000f" if "vpc" in name
                                    else "subnet-0000000000000000f"]) == {}
        return

    calls_before = dict(ctx.aws.calls)
    id, outputs = kind.create(ctx, ADDRESS, spec)
    assert outputs["id"] == id
    if expected == "gate":  # it only waited: nothing to read back, change or delete
        assert set(outputs) == set(kind.outputs) and kind.find(ctx, ADDRESS, spec) is None
        assert kind.read(ctx, id)["id"] == id
        return

    live = kind.read(ctx, id)
    seen, wanted = visible(kind, live, spec)
    assert seen == wanted, "read must show what create made, or every plan would change it"
    assert kind.read_many(ctx, [id]) == {id: live}
    assert kind.find(ctx, ADDRESS, spec)[0] == id
    assert kind.outputs_of(live)["id"] == id

    if expected == "update":
        assert not (set(k for k in spec if change(spec)[k] != spec[k]) & kind.replace_on)
        new = kind.canonical(change(spec))
        kind.update(ctx, id, live, new)
        live = kind.read(ctx, id)
        seen, wanted = visible(kind, live, new)
        assert seen == wanted
    else:
        assert set(spec) <= kind.replace_on | {"name"}

    kind.delete(ctx, id)
    assert kind.read(ctx, id) is None
    assert kind.read_many(ctx, [id]) == {}
    assert kind.find(ctx, ADDRESS, spec) is None
    kind.delete(ctx, id)  # already gone is success

    # What it called is what it declares: `ngp permissions` grants exactly these.
    used = {op for op, n in ctx.aws.calls.items() if n > calls_before.get(op, 0)
            and op != "sts.GetCallerIdentity"}  # the one call AWS allows everyone
    assert {iam_action(op) for op in used} <= set(kind.actions)


def test_vpc_dns_attributes_are_applied(ctx):
    ec2 = ctx.aws.client("ec2")
    kind = get_kind("ec2.vpc")
    spec = {"name": "v", "cidr": "10.2.0.0/16", "dns_support": True, "dns_hostnames": True}
    id, _ = kind.create(ctx, ADDRESS, spec)
    attr = ec2.describe_vpc_attribute(VpcId=id, Attribute="enableDnsHostnames")
    assert attr["EnableDnsHostnames"]["Value"] is True
    kind.update(ctx, id, spec, {**spec, "dns_hostnames": False})
    attr = ec2.describe_vpc_attribute(VpcId=id, Attribute="enableDnsHostnames")
    assert attr["EnableDnsHostnames"]["Value"] is False


def test_objects_are_tagged_at_creation(ctx, vpc_id):
    tags = ctx.aws.client("ec2").describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {
        "ngp:env": "test", "ngp:address": "network.vpc", "ngp:lineage": "lineage-test",
        "Name": "v"}


def test_batch_read_is_one_call_whatever_the_count(ctx, vpc_id):
    kind = get_kind("ec2.subnet")
    ids = [kind.create(ctx, f"network.subnet[{i}]", {
        "name": f"s{i}", "vpc_id": vpc_id, "cidr": f"10.0.{i * 16}.0/20", "az": "us-east-1a",
        "public": False})[0] for i in range(6)]
    before = ctx.aws.calls["ec2.DescribeSubnets"]
    assert set(kind.read_many(ctx, ids)) == set(ids)
    assert ctx.aws.calls["ec2.DescribeSubnets"] - before == 1


def test_other_envs_objects_are_not_read_as_ours(ctx, aws, vpc_id):
    from ngp.resources import Context

    other = Context(aws=aws, env="other", lineage="x")
    assert get_kind("ec2.vpc").find(other, "network.vpc", {}) is None
    assert get_kind("ec2.vpc").find(ctx, "network.vpc", {})[0] == vpc_id


def test_two_objects_tagged_with_one_address_is_an_error(ctx):
    kind = get_kind("ec2.eip")
    kind.create(ctx, ADDRESS, {"name": "a"})
    kind.create(ctx, ADDRESS, {"name": "b"})
    with pytest.raises(Exception, match="2 objects are tagged"):
        kind.find(ctx, ADDRESS, {})


def test_nat_gateway_delete_waits_until_gone(ctx, nat_subnet_id, eip_id):
    kind = get_kind("ec2.nat_gateway")
    id, _ = kind.create(ctx, ADDRESS, {"name": "n", "subnet_id": nat_subnet_id,
                                      "allocation_id": eip_id})
    kind.delete(ctx, id)
    state = ctx.aws.client("ec2").describe_nat_gateways(NatGatewayIds=[id])["NatGateways"]
    assert state[0]["State"] == "deleted"
    get_kind("ec2.eip").delete(ctx, eip_id)  # its address is free again


def test_nat_gateway_create_waits_while_it_is_pending(ctx, nat_subnet_id, eip_id):
    """AWS answers a new NAT gateway `pending` (ec2.nat-pending): create returns once it is
    available, not at once."""
    id, _ = get_kind("ec2.nat_gateway").create(ctx, ADDRESS, {
        "name": "n", "subnet_id": nat_subnet_id, "allocation_id": eip_id})
    state = ctx.aws.client("ec2").describe_nat_gateways(NatGatewayIds=[id])["NatGateways"]
    assert state[0]["State"] == "available"
    assert ctx.aws.calls["ec2.DescribeNatGateways"] >= 1


def test_a_failed_nat_gateway_is_one_line_with_awss_reason_and_what_to_do(ctx, subnet_id,
                                                                          eip_id, vpc_id):
    with pytest.raises(ResourceError) as caught:
        get_kind("ec2.nat_gateway").create(ctx, ADDRESS, {
            "name": "n", "subnet_id": subnet_id, "allocation_id": eip_id})
    line = caught.value.line()
    assert line.startswith(f"{ADDRESS}: NAT gateway nat-")
    assert (f"is failed: Gateway.NotAttached: Network {vpc_id} has no Internet gateway "
            "attached. Attach an internet gateway") in line
    assert "\n" not in line


def test_eventual_consistency_errors_are_retried(ctx, vpc_id):
    """A group AWS does not show yet (InvalidGroup.NotFound) is waited for, not failed."""
    ec2 = ctx.aws.client("ec2")
    failures = {"left": 2}

    def not_yet(**kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise ClientError({"Error": {"Code": "InvalidGroup.NotFound", "Message": "no"}},
                              "AuthorizeSecurityGroupIngress")

    ec2.meta.events.register("before-call.ec2.AuthorizeSecurityGroupIngress", not_yet)
    try:
        id, _ = get_kind("ec2.security_group").create(ctx, ADDRESS, {
            "name": "g", "description": "d", "vpc_id": vpc_id, "ingress": [_rule(22)]})
    finally:
        ec2.meta.events.unregister("before-call.ec2.AuthorizeSecurityGroupIngress", not_yet)
    assert failures["left"] == 0
    assert get_kind("ec2.security_group").read(ctx, id)["ingress"] == [_rule(22)]


def test_other_errors_fail_at_once(ctx, vpc_id):
    import time

    spec = {"name": "g", "description": "d", "vpc_id": vpc_id, "ingress": []}
    get_kind("ec2.security_group").create(ctx, ADDRESS, spec)
    t0 = time.monotonic()
    with pytest.raises(ClientError) as exc:
        get_kind("ec2.security_group").create(ctx, "network.other", spec)
    assert exc.value.response["Error"]["Code"] == "InvalidGroup.Duplicate"
    assert time.monotonic() - t0 < 2


def test_find_tells_indexed_addresses_apart(ctx):
    kind = get_kind("ec2.eip")
    ids = {a: kind.create(ctx, a, {"name": a})[0]
           for a in ("network.eip[a]", "network.eip[b]", "network.eip.a.", "network.eip")}
    for address, id in ids.items():
        assert kind.find(ctx, address, {})[0] == id


def test_association_find_tells_the_subnets_of_one_table_apart(ctx, vpc_id, igw_id):
    table = get_kind("ec2.route_table").create(ctx, "x.rt", {
        "name": "r", "vpc_id": vpc_id, "routes": []})[0]
    kind = get_kind("ec2.route_table_association")
    subnets = [get_kind("ec2.subnet").create(ctx, f"x.s[{i}]", {
        "name": f"s{i}", "vpc_id": vpc_id, "cidr": f"10.0.{i * 16}.0/20", "az": "us-east-1a",
        "public": False})[0] for i in range(3)]
    ids = [kind.create(ctx, f"x.a[{i}]", {"subnet_id": s, "route_table_id": table})[0]
           for i, s in enumerate(subnets)]
    for subnet, id in zip(subnets, ids, strict=True):
        assert kind.find(ctx, "x.a", {"subnet_id": subnet, "route_table_id": table})[0] == id


def test_find_never_adopts_another_envs_object(ctx, aws, nat_subnet_id):
    """moto ignores tag filters on DescribeNatGateways: find must check the env itself."""
    from ngp.resources import Context

    other = Context(aws=aws, env="other", lineage="x")
    eip = get_kind("ec2.eip").create(other, "network.eip", {"name": "e"})[0]
    get_kind("ec2.nat_gateway").create(other, "network.nat[a]", {
        "name": "n", "subnet_id": nat_subnet_id, "allocation_id": eip})
    assert get_kind("ec2.nat_gateway").find(ctx, "network.nat[a]", {}) is None


def test_a_nat_gateway_found_pending_after_a_killed_create_is_adopted_once_available(
        ctx, nat_subnet_id, eip_id):
    ec2 = ctx.aws.client("ec2")
    nat = ec2.create_nat_gateway(SubnetId=nat_subnet_id, AllocationId=eip_id,
                                 TagSpecifications=[{"ResourceType": "natgateway", "Tags": [
                                     {"Key": k, "Value": v}
                                     for k, v in ctx.tags(ADDRESS, "n").items()]}])
    assert nat["NatGateway"]["State"] == "pending"  # as a run killed here leaves it
    id, live = get_kind("ec2.nat_gateway").find(ctx, ADDRESS, {})
    assert id == nat["NatGateway"]["NatGatewayId"] and live["status"] == "available"
    assert ec2.describe_nat_gateways(NatGatewayIds=[id])["NatGateways"][0][
        "State"] == "available"
