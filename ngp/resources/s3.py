"""S3 buckets (encrypted, public access blocked, reachable over TLS only) and files ngp
uploads to them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code
from ngp.errors import ResourceError
from ngp.resources.base import NAMED, Context, Field, Importable, Kind, check_owned, kind, tags_dict

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
class Bucket(Importable, Kind):
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
    fields = (Field("name", replaces=True), Field("versioning"), Field("expire_days"))
    outputs = ("id", "name", "arn")
    echoes = NAMED
    import_warning = ("the next `ngp up` sets its encryption, public access block and bucket "
                      "policy as ngp makes them, replacing its own (with expire_days, its "
                      "lifecycle rules too), and `ngp down` deletes it with every object in it")

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

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        if self.read(ctx, id) is None:
            return None
        try:
            return tags_dict(ctx.aws.client("s3").get_bucket_tagging(Bucket=id)["TagSet"])
        except ClientError as exc:
            if error_code(exc) == "NoSuchTagSet":
                return {}
            raise

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        # PutBucketTagging replaces the whole set: the bucket's own tags are kept with ngp's.
        # https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketTagging.html
        merged = {**(self.tags(ctx, id) or {}), **tags}
        ctx.aws.client("s3").put_bucket_tagging(Bucket=id, Tagging={"TagSet": [
            {"Key": k, "Value": v} for k, v in merged.items()]})

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

    def _existing_tags(self, ctx: Context, name: str) -> list[dict[str, str]] | None:
        """The tags of a bucket of that name this account already has ([] untagged), or None
        when it has none (or cannot see it: CreateBucket then answers for itself)."""
        s3 = ctx.aws.client("s3")
        try:
            s3.head_bucket(Bucket=name)
            return s3.get_bucket_tagging(Bucket=name)["TagSet"]
        except ClientError as exc:
            return [] if error_code(exc) == "NoSuchTagSet" else None

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        name = spec["name"]
        # In us-east-1, CreateBucket of a bucket the account already has answers 200 OK
        # ("for legacy compatibility", BucketAlreadyOwnedByYou elsewhere: S3 API reference,
        # CreateBucket errors): look first, or another env's bucket would be taken over.
        tags = self._existing_tags(ctx, name)
        if tags is not None:
            check_owned(ctx, address, "bucket", name, tags)
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


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@kind
class Object(Kind):
    """A local file uploaded to one of the env's buckets (which is private, encrypted and
    TLS-only), under a key, with its sha256 in the object's metadata. The file is checked
    against the sha256 before it is uploaded; a new sha256 uploads it again. The sha256 names
    the content: the file itself is not read by plans.

    spec: {"bucket": Ref("dcos.exhibitor_bucket", "name"),
           "key": "installer/dcos_generate_config.sh",
           "source": "/home/me/dcos_generate_config.sh", "sha256": "<64 hex digits>"}
    """

    name = "s3.object"
    not_imported = ("an object is ngp's by its bucket, key and content: `ngp up` uploads it "
                    "where it differs")
    typical_seconds, typical_delete_seconds = 30.0, 1.0
    service = "s3"
    # upload_file sends large files in parts (PutObject covers CreateMultipartUpload,
    # UploadPart and CompleteMultipartUpload; AbortMultipartUpload is its own action).
    actions = ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
               "s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion")
    fields = (Field("bucket", replaces=True), Field("key", replaces=True), Field("source"),
              Field("sha256"))
    outputs = ("id", "bucket", "key", "sha256")

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        # No listing gives an object's metadata: one HEAD each (a few objects an env).
        return {id: live for id in ids if (live := self._head(ctx, id)) is not None}

    def _head(self, ctx: Context, id: str) -> dict[str, Any] | None:
        bucket, key = id.split("/", 1)
        try:
            head = ctx.aws.client("s3").head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in GONE | {"NoSuchKey"}:
                return None
            raise
        sha256 = head.get("Metadata", {}).get("sha256", "")
        return {"id": id, "bucket": bucket, "key": key, "sha256": sha256,
                "status": f"uploaded ({head['ContentLength']} bytes)"}

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        # An upload interrupted after it finished: the same key with the same sha256.
        live = self.read(ctx, f"{spec['bucket']}/{spec['key']}")
        return (live["id"], live) if live and live["sha256"] == spec["sha256"] else None

    def _upload(self, ctx: Context, address: str, spec: dict[str, Any]) -> None:
        try:
            found = file_sha256(spec["source"])
        except OSError as exc:
            raise ResourceError(f"cannot read {spec['source']}: {exc.strerror}", where=address,
                                hint="Put the file back, or change the setting that names it.",
                                ) from None
        if found != spec["sha256"]:
            raise ResourceError(
                f"{spec['source']} has sha256 {found}, not the {spec['sha256']} it was given",
                where=address, hint="Check that the file is the one you meant, then set its "
                "sha256 (sha256sum <file>).")
        ctx.aws.client("s3").upload_file(
            spec["source"], spec["bucket"], spec["key"],
            ExtraArgs={"Metadata": {"sha256": spec["sha256"]}, "ServerSideEncryption": "AES256"})

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        self._upload(ctx, address, spec)
        id = f"{spec['bucket']}/{spec['key']}"
        return id, self.outputs_of(self.read(ctx, id) or {"id": id})

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        if old.get("sha256") != new["sha256"]:
            self._upload(ctx, id, new)
        return self.outputs_of(self.read(ctx, id) or {"id": id})

    def delete(self, ctx: Context, id: str) -> None:
        """Every version of the key (the bucket keeps versions), so nothing of it is left."""
        bucket, key = id.split("/", 1)
        s3 = ctx.aws.client("s3")
        try:
            pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
            for page in pages:
                doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                          for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                          if v["Key"] == key]
                if doomed:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
