"""A bucket whose create was interrupted is finished when adopted, never left half made."""

from __future__ import annotations

from ngp.resources import get_kind


def test_a_bucket_created_then_interrupted_is_tagged_and_secured_when_adopted(ctx):
    kind, s3 = get_kind("s3.bucket"), ctx.aws.client("s3")
    spec = {"name": "ngp-exhibitor-test-123456789012", "versioning": True}
    s3.create_bucket(Bucket=spec["name"])  # the kill came right after this call

    id, live = kind.find(ctx, "dcos.exhibitor_bucket", spec)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=id)["TagSet"]}
    assert tags["ngp:env"] == "test" and tags["ngp:address"] == "dcos.exhibitor_bucket"

    # Adopted with nothing known applied: the plan's update finishes the create.
    kind.update(ctx, id, live, spec)
    block = s3.get_public_access_block(Bucket=id)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    rules = s3.get_bucket_encryption(Bucket=id)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=id)["Policy"]
    assert s3.get_bucket_versioning(Bucket=id)["Status"] == "Enabled"


ENV = """
region = "us-east-1"
allowed_account_ids = ["123456789012"]
name_suffix = "dev"
modules = ["network", "dcos", "docker_registry", "marathon_snapshot"]

[network]
cidr = "10.0.0.0/16"
admin_cidrs = ["203.0.113.0/24"]
"""


def test_the_default_bucket_names_are_the_envs_own_not_names_others_hold(ctx, tmp_path):
    # Under the strict sandbox (s3.global-bucket-names) ngp-exhibitor-dev and the like are
    # held by other accounts: the env's names carry its account id.
    from ngp.config import Project
    from ngp.engine import build_desired

    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "dev.toml").write_text(ENV)
    graph = build_desired(Project(tmp_path).load("dev", {})).graph
    buckets = {a: r.spec for a, r in graph.resources.items() if r.kind == "s3.bucket"}
    kind = get_kind("s3.bucket")
    for address, spec in buckets.items():
        assert kind.create(ctx, address, spec)[0] == spec["name"]
    assert {a: s["name"] for a, s in buckets.items()} == {
        "dcos.exhibitor_bucket": "ngp-exhibitor-dev-123456789012",
        "docker_registry.bucket": "ngp-registry-dev-123456789012",
        "marathon_snapshot.bucket": "ngp-snapshots-dev-123456789012"}


# -- s3.object: a local file uploaded with its sha256 ----------------------------------------


def _bucket(ctx, name="ngp-exhibitor-test-123456789012"):
    get_kind("s3.bucket").create(ctx, "dcos.exhibitor_bucket", {"name": name, "versioning": True})
    return name


def test_an_object_is_uploaded_checked_replaced_and_deleted_with_every_version(ctx, tmp_path):
    import hashlib

    import pytest

    from ngp.errors import ResourceError

    kind, s3, bucket = get_kind("s3.object"), ctx.aws.client("s3"), _bucket(ctx)
    source = tmp_path / "dcos_generate_config.sh"
    source.write_bytes(b"installer one")
    spec = {"bucket": bucket, "key": "installer/dcos_generate_config.sh", "source": str(source),
            "sha256": hashlib.sha256(b"installer one").hexdigest()}
    assert kind.find(ctx, "dcos.installer", spec) is None

    id, outputs = kind.create(ctx, "dcos.installer", spec)
    assert id == f"{bucket}/installer/dcos_generate_config.sh"
    assert outputs["sha256"] == spec["sha256"]
    head = s3.head_object(Bucket=bucket, Key=spec["key"])
    assert head["Metadata"] == {"sha256": spec["sha256"]}
    assert head["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key=spec["key"])["Body"].read() == b"installer one"
    # An interrupted create that had finished its upload is adopted, not repeated.
    assert kind.find(ctx, "dcos.installer", spec)[0] == id
    assert kind.read(ctx, id)["status"] == "uploaded (13 bytes)"

    # A file that is not the one the sha256 names is never uploaded.
    source.write_bytes(b"installer two, tampered")
    newer = {**spec, "sha256": hashlib.sha256(b"installer two").hexdigest()}
    with pytest.raises(ResourceError, match=r"has sha256 [0-9a-f]{64}, not "):
        kind.update(ctx, id, spec, newer)
    assert s3.get_object(Bucket=bucket, Key=spec["key"])["Body"].read() == b"installer one"
    source.write_bytes(b"installer two")
    assert kind.update(ctx, id, spec, newer)["sha256"] == newer["sha256"]

    kind.delete(ctx, id)
    assert kind.read(ctx, id) is None
    assert "Versions" not in s3.list_object_versions(Bucket=bucket, Prefix=spec["key"])
    kind.delete(ctx, id)  # already gone is success


def test_an_object_kind_is_registered_with_its_actions():
    kind = get_kind("s3.object")
    assert {"s3:PutObject", "s3:GetObject", "s3:DeleteObjectVersion"} <= set(kind.actions)
