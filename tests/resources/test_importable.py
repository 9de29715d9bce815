"""The Importable capability (`ngp import`) on every kind that has it, against the strict
sandbox: an object's tags are read by id, ngp's are added leaving the others, a gone id reads
as None, and every call made is one the kind declares (`ngp permissions`)."""

from __future__ import annotations

import pytest

from ngp.aws import iam_action
from ngp.resources import KINDS, get_kind
from ngp.resources.base import Importable
from tests.resources.test_ec2 import ADDRESS, CASES

IMPORTABLE = sorted(n for n, k in KINDS.items() if isinstance(k, Importable) and not k.read_only)


def test_the_ec2_kinds_are_importable():
    assert {"ec2.vpc", "ec2.subnet", "ec2.security_group", "ec2.key_pair",
            "ec2.instance"} <= set(IMPORTABLE)


def test_every_kind_is_importable_or_says_why_not():
    silent = sorted(n for n, k in KINDS.items()
                    if not isinstance(k, Importable) and not k.read_only and not k.not_imported)
    assert silent == []


def test_a_secret_keeps_its_value_but_not_an_origin_ngp_tagged():
    secret = get_kind("secretsmanager.secret")
    assert isinstance(secret, Importable)
    spec = {"name": "s", "generate": "password"}
    assert secret.import_fields(spec, {}) == {"generate": "password"}  # made by hand
    # Tagged another way: the read shows it, and the import reports the replacement.
    assert secret.import_fields(spec, {"ngp:generate": "env"}) == {}


@pytest.mark.parametrize("name", IMPORTABLE)
def test_tags_are_read_and_added(name, ctx, request):
    kind = get_kind(name)
    assert isinstance(kind, Importable)
    build, _, _ = CASES[name]

    def fixture(fname):
        if fname == "route_table_id":
            return get_kind("ec2.route_table").create(ctx, "network.rt", {
                "name": "r", "vpc_id": request.getfixturevalue("vpc_id"),
                "routes": [{"cidr": "0.0.0.0/0",
                            "gateway_id": request.getfixturevalue("igw_id")}]})[0]
        return request.getfixturevalue(fname)

    spec = kind.canonical(build(fixture))
    calls_before = dict(ctx.aws.calls)
    id, _ = kind.create(ctx, ADDRESS, spec)
    assert kind.tags(ctx, id)["ngp:address"] == ADDRESS
    kind.tag(ctx, id, {"ngp:address": "elsewhere.x", "team": "a"})
    tags = kind.tags(ctx, id)
    assert tags["ngp:address"] == "elsewhere.x" and tags["team"] == "a"
    assert tags["ngp:env"] == "test", "the other tags are left"
    kind.delete(ctx, id)
    gone = kind.tags(ctx, id)
    assert gone is None or kind.read(ctx, id) is None  # a deleted instance still lists a while
    used = {op for op, n in ctx.aws.calls.items() if n > calls_before.get(op, 0)
            and op != "sts.GetCallerIdentity"}
    assert {iam_action(op) for op in used} <= set(kind.actions)
