"""S3 buckets: encrypted, public access blocked, reachable over TLS only; and files of the
user's uploaded to them."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code
from ngp.errors import ResourceError
from ngp.resources.base import Context, Kind, check_owned, kind

GONE = frozenset({"NoSuchBucket", "404"})


def tls_only(name: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def create_bucket(s3: Any, name: str, region: str) -> None:
    params: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":  # the one region that takes no location
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**params)


def secure(s3: Any, name: str, versioning: bool) -> None:
    """Every setting a bucket of ngp's must have (each call idempotent): public access
    blocked, encrypted, TLS only, and versioning when asked."""
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(tls_only(name)))
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


@kind
class Bucket(Kind):
    """A private bucket: SSE-S3 encryption, every public access blocked, a policy that
    refuses plain HTTP, and optionally versioning. `ngp down` empties it (every version)
    before deleting it, so nothing of the env is left behind.

    spec: {"name": "ngp-registry-dev-111111111111", "versioning": false}
       or {"name": "ngp-snapshots-dev-111111111111", "versioning": true, "expire_days": 30}
    With expire_days, objects (and old versions) are deleted that many days after they
    were written. Its settings are not in a batched read: they are taken as last applied.
    """

    name = "s3.bucket"
    typical_seconds, typical_delete_seconds = 5.0, 1.0
    service = "s3"
    actions = ("s3:ListAllMyBuckets", "s3:ListBucket", "s3:CreateBucket", "s3:GetBucketTagging",
               "s3:PutBucketTagging", "s3:PutEncryptionConfiguration",
               "s3:PutBucketPublicAccessBlock", "s3:PutBucketPolicy", "s3:PutBucketVersioning",
               "s3:PutLifecycleConfiguration", "s3:ListBucketVersions", "s3:DeleteObject",
               "s3:DeleteObjectVersion",
               "s3:DeleteBucket",
               # Not called, but whoever may set a bucket's policy may grant itself these:
               # the policy says what it amounts to (and parliament wants it said).
               "s3:GetObject", "s3:PutObject")
    replace_on = frozenset({"name"})
    outputs = ("id", "name", "arn")

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        buckets = ctx.aws.client("s3").list_buckets()["Buckets"]
        return {b["Name"]: self._live(b["Name"]) for b in buckets if b["Name"] in ids}

    def _live(self, name: str) -> dict[str, Any]:
        return {"id": name, "name": name, "arn": f"arn:aws:s3:::{name}", "status": "available"}

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        try:
            ctx.aws.client("s3").head_bucket(Bucket=id)
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise
        return self._live(id)

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        if self.read(ctx, spec["name"]) is None:
            return None
        try:
            tags = ctx.aws.client("s3").get_bucket_tagging(Bucket=spec["name"])["TagSet"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchTagSet":
                raise
            # Created, then interrupted before its tags: the name carries the env's prefix and
            # suffix, and an untagged bucket of that name in this account is that create's.
            # Tag it now, so it is never unseen; the plan then re-applies its settings.
            tags = self._tag(ctx, address, spec["name"])
        check_owned(ctx, address, "bucket", spec["name"], tags)
        return spec["name"], self._live(spec["name"])

    def _tag(self, ctx: Context, address: str, name: str) -> list[dict[str, str]]:
        tags = [{"Key": k, "Value": v} for k, v in ctx.tags(address, name).items()]
        ctx.aws.client("s3").put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags})
        return tags

    def _secure(self, ctx: Context, name: str, spec: dict[str, Any]) -> None:
        secure(ctx.aws.client("s3"), name, spec.get("versioning", False))
        if spec.get("expire_days"):
            self._expiry(ctx, name, spec["expire_days"])

    def _expiry(self, ctx: Context, name: str, days: int | None) -> None:
        s3 = ctx.aws.client("s3")
        if not days:
            s3.delete_bucket_lifecycle(Bucket=name)
            return
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [{
            "ID": "ngp-expiry", "Status": "Enabled", "Filter": {"Prefix": ""},
            "Expiration": {"Days": days},
            "NoncurrentVersionExpiration": {"NoncurrentDays": days}}]})

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        name = spec["name"]
        create_bucket(ctx.aws.client("s3"), name, ctx.aws.region)
        self._tag(ctx, address, name)
        self._secure(ctx, name, spec)
        return name, self._live(name)

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        if "versioning" not in old:  # adopted from an interrupted create: finish it
            self._secure(ctx, id, new)
        elif old.get("versioning") != new.get("versioning", False):
            ctx.aws.client("s3").put_bucket_versioning(Bucket=id, VersioningConfiguration={
                "Status": "Enabled" if new.get("versioning") else "Suspended"})
        if "versioning" in old and old.get("expire_days") != new.get("expire_days"):
            self._expiry(ctx, id, new.get("expire_days"))
        return self._live(id)

    def delete(self, ctx: Context, id: str) -> None:
        s3 = ctx.aws.client("s3")
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=id):
                doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                          for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                if doomed:
                    s3.delete_objects(Bucket=id, Delete={"Objects": doomed, "Quiet": True})
            s3.delete_bucket(Bucket=id)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise


@kind
class Object(Kind):
    """A file of the user's in one of the env's buckets (the manager's wheel), known by its
    SHA-256: the key holds the hash, so a changed file is a new object, and the upload is
    refused if the file changed since the plan read it. S3 checks the bytes it receives
    against the same hash (ChecksumSHA256). Its id is bucket/key.

    spec: {"bucket": Ref("manager.bucket", "name"),
           "key": "packages/<sha256>/ngp-0.1.0-py3-none-any.whl",
           "source": "/home/you/ngp/dist/ngp-0.1.0-py3-none-any.whl", "sha256": "<hex>"}
    outputs: id, bucket, key.
    """

    name = "s3.object"
    created_whole = True
    service = "s3"
    actions = ("s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:ListBucketVersions",
               "s3:DeleteObject", "s3:DeleteObjectVersion")
    replace_on = frozenset({"bucket", "key", "sha256"})
    outputs = ("id", "bucket", "key")

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        bucket, key = id.split("/", 1)
        try:
            head = ctx.aws.client("s3").head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in GONE | {"NoSuchKey"}:
                return None
            raise
        return {"id": id, "bucket": bucket, "key": key,
                "sha256": head.get("Metadata", {}).get("sha256"), "status": "available"}

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        # The bucket is the env's own (its kind checks); the key names the content's hash.
        live = self.read(ctx, f"{spec['bucket']}/{spec['key']}")
        return (live["id"], live) if live and live["sha256"] == spec["sha256"] else None

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        try:
            data = Path(spec["source"]).read_bytes()
        except OSError as exc:
            raise ResourceError(f"cannot read {spec['source']}: {exc.strerror}",
                                where=address, hint="Put the file back, or change the "
                                "setting that names it.") from None
        digest = hashlib.sha256(data)
        if digest.hexdigest() != spec["sha256"]:
            raise ResourceError(f"{spec['source']} changed since the plan read it",
                                where=address, hint="Run the command again.")
        ctx.aws.client("s3").put_object(
            Bucket=spec["bucket"], Key=spec["key"], Body=data, Metadata={
                "sha256": spec["sha256"]},
            ChecksumSHA256=base64.b64encode(digest.digest()).decode())
        id = f"{spec['bucket']}/{spec['key']}"
        return id, {"id": id, "bucket": spec["bucket"], "key": spec["key"]}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        return {"id": id, "bucket": new["bucket"], "key": new["key"]}  # only its path moved

    def delete(self, ctx: Context, id: str) -> None:
        bucket, key = id.split("/", 1)
        s3 = ctx.aws.client("s3")
        try:
            listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
        except ClientError as exc:
            if error_code(exc) in GONE:
                return
            raise
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
                  if v["Key"] == key]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
