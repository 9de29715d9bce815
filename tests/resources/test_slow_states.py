"""What ngp's kinds do about AWS's slow states and hidden images, under the strict sandbox:
an instance or domain an interrupted create left is adopted only once it is ready, a
balancer's new instances are not yet healthy rather than failed, and the image lookup finds
the deprecated images DC/OS runs on."""

from __future__ import annotations

import json

from ngp.aws import wait_until
from ngp.resources import get_kind
from ngp.resources.base import Verdict, Wanted
from tests.resources.test_compute import instance_spec


def test_the_image_lookup_finds_the_deprecated_dcos_image(ctx):
    # envs/sandbox.toml's DC/OS image: RHEL 7, deprecated as every RHEL 7 / CentOS 7 image is.
    spec = {"owners": ["309956199498"], "name": "RHEL-7.4_HVM_GA-*", "architecture": "x86_64"}
    assert ctx.aws.client("ec2").describe_images(Owners=spec["owners"], Filters=[
        {"Name": "name", "Values": [spec["name"]]}])["Images"] == []  # hidden by default
    found = get_kind("ec2.image").lookup(ctx, spec)
    assert found["name"] == "RHEL-7.4_HVM_GA-20170808-x86_64-2-Hourly2-GP2"
    assert get_kind("ec2.image").read(ctx, found["id"])["id"] == found["id"]  # by id: shown


def test_an_instance_an_interrupted_create_left_pending_is_adopted_running(ctx, image,
                                                                           subnet_id):
    kind = get_kind("ec2.instance")
    spec = instance_spec(image, subnet_id)
    ctx.aws.client("ec2").run_instances(
        ImageId=image["id"], InstanceType="t3.small", MinCount=1, MaxCount=1,
        SubnetId=subnet_id, TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": k, "Value": v} for k, v in ctx.tags("x.vm", "i").items()]}])
    id, live = kind.find(ctx, "x.vm", spec)
    assert live["status"] == "running"
    assert kind.read(ctx, id)["status"] == "running"


def test_a_domain_an_interrupted_create_left_processing_is_adopted_with_its_endpoint(ctx):
    kind = get_kind("opensearch.domain")
    spec = {"name": "ngp-elk-test", "engine_version": "OpenSearch_2.11",
            "instance_type": "t3.small.search", "instance_count": 1, "volume_size": 20,
            "timeout": 60, "access_policy": {"Version": "2012-10-17", "Statement": []}}
    ctx.aws.client("opensearch").create_domain(
        DomainName=spec["name"], EngineVersion=spec["engine_version"],
        AccessPolicies=json.dumps(spec["access_policy"]),
        TagList=[{"Key": k, "Value": v} for k, v in ctx.tags("elk.domain", spec["name"]).items()])
    assert kind.read(ctx, spec["name"])["endpoint"] == ""  # still being created
    _, live = kind.find(ctx, "elk.domain", spec)
    outputs = kind.outputs_of(live)
    assert outputs["endpoint"] and outputs["dashboards_url"].startswith("https://")


def _not_yet_healthy_then_in_service(ctx, lb_name: str, instance_id: str) -> None:
    get_kind("elb.attachment").create(ctx, "x.attach", {"load_balancer": lb_name,
                                                        "instances": [instance_id]})
    kind = get_kind("elb.load_balancer")
    wanted = Wanted(spec={}, live={}, members=1)
    assert kind.health(ctx, lb_name, wanted) == Verdict(
        False, "0/1 in service, 1 not yet healthy")
    assert wait_until(lambda: kind.health(ctx, lb_name, wanted) == Verdict(
        True, "1/1 in service") or None, what="the instance in service", timeout=10)


def test_a_balancers_new_instances_are_not_yet_healthy_then_in_service(ctx, lb_name,
                                                                       instance_id):
    _not_yet_healthy_then_in_service(ctx, lb_name, instance_id)


def test_a_balancers_instance_still_booting_is_not_yet_healthy(ctx, lb_name, image, subnet_id):
    # A group's new machine right after `ngp up`: OutOfService, "Instance is in pending state."
    [booting] = ctx.aws.client("ec2").run_instances(
        ImageId=image["id"], InstanceType="t3.small", MinCount=1, MaxCount=1,
        SubnetId=subnet_id)["Instances"]
    _not_yet_healthy_then_in_service(ctx, lb_name, booting["InstanceId"])
