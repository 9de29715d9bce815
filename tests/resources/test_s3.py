"""A bucket whose create was interrupted is finished when adopted, never left half made."""

from __future__ import annotations

from ngp.resources import get_kind


def test_a_bucket_created_then_interrupted_is_tagged_and_secured_when_adopted(ctx):
    kind, s3 = get_kind("s3.bucket"), ctx.aws.client("s3")
    spec = {"name": "ngp-exhibitor-test", "versioning": True}
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
