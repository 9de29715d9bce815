"""`ngp status` shows a DC/OS node whose boot script reported a failed install (its
ngp:install tag) instead of leaving it to the ready gate's timeout: a machine's status in the
batched read, and an auto-scaling group's health in one extra describe."""

from __future__ import annotations

from ngp.resources import get_kind
from ngp.resources.base import Verdict, Wanted
from tests.resources.test_compute import group_spec, instance_spec, template_spec

REPORT = "failed:docker: yum could not install docker-ce-19.03.5"


def test_an_instance_that_reported_a_failed_install_says_why(ctx, image, subnet_id):
    kind, ec2 = get_kind("ec2.instance"), ctx.aws.client("ec2")
    id, _ = kind.create(ctx, "dcos.bootstrap", instance_spec(image, subnet_id))
    assert kind.read_many(ctx, [id])[id]["status"] == "running"
    ec2.create_tags(Resources=[id], Tags=[{"Key": "ngp:install", "Value": REPORT}])
    assert kind.read_many(ctx, [id])[id]["status"] == (
        "running, install failed: docker: yum could not install docker-ce-19.03.5")


def test_a_group_names_its_machines_whose_install_failed(ctx, image, subnet_id):
    template = get_kind("ec2.launch_template").create(ctx, "x.lt", template_spec(image))[1]
    kind, ec2 = get_kind("autoscaling.group"), ctx.aws.client("ec2")
    spec = group_spec(template, subnet_id)
    id, _ = kind.create(ctx, "dcos.private_agents", spec)

    def health():
        return kind.health(ctx, id, Wanted(spec, kind.read(ctx, id)))

    assert health() == Verdict(True, "1/1 in service")  # nothing reported
    [machine] = [i["InstanceId"] for r in ec2.describe_instances(Filters=[
        {"Name": "tag:aws:autoscaling:groupName", "Values": [id]}])["Reservations"]
        for i in r["Instances"]]
    ec2.create_tags(Resources=[machine], Tags=[{"Key": "ngp:install", "Value": REPORT}])
    assert health() == Verdict(False, f"1/1 in service, install failed on {machine}: "
                                      "docker: yum could not install docker-ce-19.03.5")
