"""Objects whose names ngp chooses belong to the env that tagged them: a create (or an
adoption by `find`) in another env refuses, in one line naming the address, the name and the
env that owns it, and leaves the object as it was."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ngp.errors import ResourceError
from ngp.resources.base import TAG_ENV, get_kind
from tests.resources.test_ec2 import CASES


@pytest.fixture
def other(ctx):
    """The same account seen from env "other"."""
    return replace(ctx, env="other", lineage="lineage-other")


def refusal(call) -> str:
    with pytest.raises(ResourceError) as exc:
        call()
    line = exc.value.line()
    assert "\n" not in line
    return line


def test_a_bucket_of_another_env_is_not_taken_over_by_a_create_in_us_east_1(ctx, other):
    # us-east-1 answers 200 OK to CreateBucket of a bucket the account already has.
    kind, spec = get_kind("s3.bucket"), {"name": "ngp-shared-bucket", "versioning": False}
    kind.create(other, "registry.bucket", spec)
    line = refusal(lambda: kind.create(ctx, "registry.bucket", {**spec, "versioning": True}))
    assert line.startswith("registry.bucket: bucket 'ngp-shared-bucket' exists and belongs "
                           "to env 'other', not env 'test'"), line
    assert "name_prefix/name_suffix" in line
    s3 = ctx.aws.client("s3")
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(
        Bucket="ngp-shared-bucket")["TagSet"]}
    assert tags[TAG_ENV] == "other"
    assert "Status" not in s3.get_bucket_versioning(Bucket="ngp-shared-bucket")
    assert "belongs to env 'other'" in refusal(
        lambda: kind.find(ctx, "registry.bucket", spec))


def test_an_untagged_bucket_of_that_name_is_not_taken_by_a_create(ctx):
    ctx.aws.client("s3").create_bucket(Bucket="ngp-someones-bucket")
    kind = get_kind("s3.bucket")
    assert "was not made by ngp" in refusal(
        lambda: kind.create(ctx, "x.bucket", {"name": "ngp-someones-bucket"}))
    with pytest.raises(ctx.aws.client("s3").exceptions.ClientError):
        ctx.aws.client("s3").get_bucket_tagging(Bucket="ngp-someones-bucket")


def test_our_own_bucket_met_again_by_a_create_is_adopted(ctx):
    kind, spec = get_kind("s3.bucket"), {"name": "ngp-own-bucket", "versioning": False}
    kind.create(ctx, "x.bucket", spec)
    assert kind.create(ctx, "x.bucket", {**spec, "versioning": True})[0] == "ngp-own-bucket"


def test_an_eventbridge_rule_of_another_env_is_not_rewritten(ctx, other, aws):
    kind = get_kind("events.rule")
    spec = {"name": "ngp-snapshot-x", "schedule": "rate(60 minutes)", "description": "d"}
    kind.create(other, "marathon_snapshot.schedule", spec)
    line = refusal(lambda: kind.create(ctx, "marathon_snapshot.schedule",
                                       {**spec, "schedule": "rate(5 minutes)"}))
    assert "EventBridge rule 'ngp-snapshot-x' exists and belongs to env 'other'" in line
    rule = aws.client("events").describe_rule(Name="ngp-snapshot-x")
    assert rule["ScheduleExpression"] == "rate(60 minutes)"


@pytest.mark.parametrize("name", ["ec2.key_pair", "ec2.launch_template", "iam.role",
                                  "secretsmanager.secret", "logs.group", "ecr.repository",
                                  "lambda.function", "opensearch.domain"])
def test_find_by_name_refuses_another_envs_object(name, ctx, other, request):
    """What the engine asks when a create meets "already exists": the owner, by name."""
    build = CASES[name][0]
    fixtures = {}

    def fixture(key):
        if key not in fixtures:
            fixtures[key] = request.getfixturevalue(key)
        return fixtures[key]

    spec = build(fixture)
    kind = get_kind(name)
    kind.create(other, "m.thing", spec)
    line = refusal(lambda: kind.find(ctx, "m.thing", spec))
    assert line.startswith("m.thing: ") and "belongs to env 'other', not env 'test'" in line
    assert kind.find(other, "m.thing", spec) is not None


def test_a_dns_record_of_another_env_is_not_overwritten(ctx, other, zone_id):
    kind = get_kind("route53.record")
    spec = {"zone_id": zone_id, "name": "dcos.example.com", "type": "A", "ttl": 60,
            "values": ["198.51.100.1"]}
    kind.create(other, "dcos.dns.dcos", spec)
    line = refusal(lambda: kind.create(ctx, "dcos.dns.dcos",
                                       {**spec, "values": ["198.51.100.2"]}))
    assert line.startswith("dcos.dns.dcos: DNS record dcos.example.com. (A) exists already"), line
    assert "domain of its own" in line
    live = kind.read(ctx, kind.key(zone_id, "dcos.example.com", "A"))
    assert live["values"] == ["198.51.100.1"]
    # Nor adopted by find (a plan after that failed create): it points elsewhere, so it is
    # not this env's interrupted create, and an adoption would have up overwrite it.
    line = refusal(lambda: kind.find(ctx, "dcos.dns.dcos", {**spec, "values": ["198.51.100.2"]}))
    assert "exists already" in line
    assert kind.find(ctx, "dcos.dns.dcos", spec)[1]["values"] == ["198.51.100.1"], \
        "one that says what the spec says is an interrupted create's: adopted"
    # An alias named as the console names it is the same target.
    alias = {"dns_name": "dualstack.NGP-masters-1.us-east-1.elb.amazonaws.com", "zone_id": "Z"}
    assert kind.canonical({"alias": alias})["alias"]["dns_name"] == \
        "ngp-masters-1.us-east-1.elb.amazonaws.com."


def test_route53_refuses_to_create_a_record_set_twice(aws, zone_id):
    """The rule route53.create-existing-record-set: moto adds a second record set, Route 53
    refuses the CREATE (only UPSERT replaces one)."""
    route53 = aws.client("route53")

    def create(value):
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
            "Action": "CREATE", "ResourceRecordSet": {
                "Name": "vpn.example.com", "Type": "A", "TTL": 60,
                "ResourceRecords": [{"Value": value}]}}]})

    create("198.51.100.1")
    with pytest.raises(route53.exceptions.InvalidChangeBatch) as exc:
        create("198.51.100.2")
    assert exc.value.response["Error"]["Message"] == (
        "[Tried to create resource record set [name='vpn.example.com.', type='A'] but it "
        "already exists]")
    sets = [r for r in route53.list_resource_record_sets(HostedZoneId=zone_id)[
        "ResourceRecordSets"] if r["Name"] == "vpn.example.com."]
    assert [r["ResourceRecords"] for r in sets] == [[{"Value": "198.51.100.1"}]]
