"""Per-zone facts: not every instance type is offered in every availability zone of a
region (us-east-1e offers 68 types, none of t3 or m5), and RunInstances in a zone that lacks
the type fails. moto checks the type against the region only; its own copy of AWS's
DescribeInstanceTypeOfferings data by zone is what this rule reads."""

from __future__ import annotations

from ngp.sandbox.strict import Call, Refusal, Rule, backend, rule


def offered_zones(region: str, instance_type: str) -> list[str]:
    """The zones of a region that offer an instance type (moto's offerings data)."""
    from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS

    offerings = INSTANCE_TYPE_OFFERINGS["availability-zone"].get(region, [])
    return sorted({o["Location"] for o in offerings if o["InstanceType"] == instance_type})


@rule
class InstanceTypeOfferings(Rule):
    name = "ec2.instance-type-offerings"
    summary = ("RunInstances of a type the subnet's zone does not offer (m5.xlarge in "
               "us-east-1e) answers Unsupported, naming the zones that do (moto checks the "
               "region only)")
    source = ("https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/"
              "troubleshooting-launch.html#troubleshooting-launch-capacity")

    def before(self, call: Call) -> None:
        if call.service != "ec2" or call.operation != "RunInstances":
            return
        instance_type = call.param("InstanceType")
        subnet_id = call.param("SubnetId") or call.param("NetworkInterface.1.SubnetId")
        if not instance_type or not subnet_id:
            return
        try:
            zone = backend("ec2", call).get_subnet(subnet_id).availability_zone
        except Exception:  # an unknown subnet: moto answers as AWS does
            return
        zones = offered_zones(call.region, instance_type)
        if zones and zone not in zones:
            raise Refusal("Unsupported",
                          f"Your requested instance type ({instance_type}) is not supported in "
                          f"your requested Availability Zone ({zone}). Please retry your "
                          "request by not specifying an Availability Zone or choosing "
                          f"{', '.join(zones)}.")
