"""A deleted function in a VPC leaves network interfaces behind: delete waits for them,
bounded, and says what is left."""

from __future__ import annotations

import threading

import pytest

from ngp.errors import NgpError
from ngp.resources import awslambda, get_kind
from tests.resources.conftest import function_spec


def leftover_eni(ctx, subnet_id, name):
    return ctx.aws.client("ec2").create_network_interface(
        SubnetId=subnet_id, Description=f"AWS Lambda VPC ENI-{name}-0a1b2c")[
        "NetworkInterface"]["NetworkInterfaceId"]


def test_delete_waits_until_aws_releases_the_interfaces(ctx, lambda_role_arn, subnet_id):
    kind = get_kind("lambda.function")
    id, _ = kind.create(ctx, "x.fn", function_spec("ngp-vpc-fn", lambda_role_arn))
    eni = leftover_eni(ctx, subnet_id, id)
    released = threading.Timer(1.0, lambda: ctx.aws.client("ec2").delete_network_interface(
        NetworkInterfaceId=eni))
    released.start()
    kind.delete(ctx, id)  # returns once the interface is gone
    released.join()
    assert kind.read(ctx, id) is None


def test_delete_gives_up_after_its_bound_and_says_why(ctx, lambda_role_arn, subnet_id,
                                                      monkeypatch):
    monkeypatch.setattr(awslambda, "ENI_TIMEOUT", 1.0)
    kind = get_kind("lambda.function")
    id, _ = kind.create(ctx, "x.fn", function_spec("ngp-stuck-fn", lambda_role_arn))
    leftover_eni(ctx, subnet_id, id)
    with pytest.raises(NgpError) as exc:
        kind.delete(ctx, id)
    assert "network interfaces of Lambda function ngp-stuck-fn" in str(exc.value)
    assert "run `ngp down` again later" in exc.value.hint
    assert kind.read(ctx, id) is None  # the function itself is gone
