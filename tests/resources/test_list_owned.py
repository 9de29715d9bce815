"""Owned kinds list what is tagged for the env in one call (ngp.engine.owned): only the env's,
each with its ngp tags, and nothing another env tagged. Against moto."""

from __future__ import annotations

from dataclasses import replace

from ngp.resources.base import (
    KINDS,
    OWNER_TAGS,
    TAG_ADDRESS,
    TAG_ENV,
    TAG_LINEAGE,
    Owned,
    get_kind,
)


def test_ec2_and_secrets_list_only_the_envs_objects_with_their_tags(ctx, aws):
    other = replace(ctx, env="other", lineage="lineage-other")
    vpc, secret = get_kind("ec2.vpc"), get_kind("secretsmanager.secret")
    spec = {"name": "v", "cidr": "10.0.0.0/16", "dns_support": True, "dns_hostnames": True}
    mine, _ = vpc.create(ctx, "network.vpc", spec)
    vpc.create(other, "network.vpc", spec)
    arn, _ = secret.create(ctx, "network.ssh_key", {"name": "k-test", "generate": "password"})
    secret.create(other, "network.ssh_key", {"name": "k-other", "generate": "password"})
    before = sum(aws.calls.values())
    for kind, id, address in ((vpc, mine, "network.vpc"), (secret, arn, "network.ssh_key")):
        assert isinstance(kind, Owned)
        listed = kind.list_owned(ctx)
        assert set(listed) == {id}
        tags = listed[id]["tags"]
        assert (tags[TAG_ENV], tags[TAG_ADDRESS], tags[TAG_LINEAGE]) == (
            "test", address, "lineage-test")
        read = kind.read_many(ctx, [id])[id]
        assert read.pop(OWNER_TAGS)[TAG_ADDRESS] == address  # for the ownership check
        assert read == {k: v for k, v in listed[id].items()
                        if k not in ("tags", OWNER_TAGS)}  # the same live object
    # One call per listing, one per read_many (the same call).
    assert sum(aws.calls.values()) - before == 4
    assert aws.calls["ec2.DescribeVpcs"] == aws.calls["secretsmanager.ListSecrets"] == 2


def test_owned_kinds_are_made_kinds():
    owned = sorted(name for name, kind in KINDS.items() if isinstance(kind, Owned)
                   and not kind.read_only)
    assert "ec2.vpc" in owned and "autoscaling.group" in owned
    assert "secretsmanager.secret" in owned
