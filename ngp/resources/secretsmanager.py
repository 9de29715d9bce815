"""Secrets that ngp generates and keeps in AWS Secrets Manager. The state holds only the ARN;
`ngp outputs --reveal` is the one way back to a value."""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import ClientError

from ngp import debug_log
from ngp.aws import error_code, error_message, eventually
from ngp.errors import NgpError, ResourceError
from ngp.resources.base import (
    TAG_ENV,
    Context,
    Field,
    Importable,
    Kind,
    Owned,
    check_owned,
    kind,
    tags_dict,
    with_owner_tags,
)

TAG_GENERATE = "ngp:generate"
TAG_PUBLIC_KEY = "ngp:public-key"
GONE = frozenset({"ResourceNotFoundException"})
# A delete without recovery is carried out asynchronously: the name stays taken for a while
# (InvalidRequestException "... already scheduled for deletion." or "... because it was
# deleted."). terraform-provider-aws retries CreateSecret on both for up to 2 minutes
# (secretsmanager/secret.go); so does ngp.
REUSE_DEADLINE = 120.0


def _name_still_deleted(exc: BaseException) -> bool:
    message = error_message(exc)
    return error_code(exc) == "InvalidRequestException" and (
        "scheduled for deletion" in message or "was deleted" in message)


def generate(how: str, variable: str | None = None) -> tuple[str, str | None]:
    """A new secret value and, for a key, its public half (which is not secret). "env" takes
    the value the user gave in an environment variable (a Tyk or Sysdig key)."""
    if how == "env":
        import os

        if not variable or not os.environ.get(variable):
            raise NgpError(f"the environment variable {variable} is not set",
                           hint=f"export {variable}=... (README, Secrets)")
        return os.environ[variable], None
    if how == "password":
        return secrets.token_urlsafe(24), None
    if how == "ssh-ed25519":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        return private, public
    raise ValueError(f"unknown generator {how!r}")


def reveal(ctx: Context, arn: str) -> str:
    value = ctx.aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    debug_log.secret(value)
    return str(value)


@kind
class Secret(Importable, Owned, Kind):
    """A secret whose value ngp generates (a password, or an SSH private key) and stores in
    Secrets Manager; the state keeps its ARN only. Deleted without a recovery window, so an
    env can be taken down and brought up again at once (its create waits out the moment AWS
    still holds the name).

    spec: {"name": "ngp-openvpn-admin-dev", "description": "OpenVPN admin password",
           "generate": "password"}
       or {"name": "ngp-sysdig-dev", "generate": "env", "variable": "SYSDIG_ACCESS_KEY"}
    A value from an environment variable is stored at creation; to change it, change the
    variable and the secret's name (or delete the secret), as ngp cannot see the old value.
    outputs: id and arn (the ARN), name, and public_key for "ssh-ed25519".
    """

    name = "secretsmanager.secret"
    typical_seconds, typical_delete_seconds = 1.0, 0.5
    actions = ("secretsmanager:ListSecrets", "secretsmanager:DescribeSecret",
               "secretsmanager:CreateSecret", "secretsmanager:TagResource",
               "secretsmanager:UpdateSecret", "secretsmanager:DeleteSecret",
               "secretsmanager:GetSecretValue")
    service = "secretsmanager"
    fields = (Field("name", replaces=True), Field("description"),
              Field("generate", replaces=True), Field("variable"))
    outputs = ("id", "arn", "name", "public_key")

    def _live(self, item: dict[str, Any]) -> dict[str, Any] | None:
        if item.get("DeletedDate"):
            return None
        tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
        # How its value was made is known from ngp's tag only: one made by hand says nothing.
        made = {"generate": tags[TAG_GENERATE]} if TAG_GENERATE in tags else {}
        return with_owner_tags({
            "id": item["ARN"], "arn": item["ARN"], "name": item["Name"],
            "description": item.get("Description", ""), **made,
            "public_key": tags.get(TAG_PUBLIC_KEY), "status": "available"}, tags)

    def _listed(self, ctx: Context) -> list[dict[str, Any]]:
        # ListSecrets filters by tag-key and tag-value, each alone and by prefix, and answers
        # each secret's Tags (docs.aws.amazon.com/secretsmanager/latest/apireference/
        # API_Filter.html): one call, the pair compared exactly by the caller.
        pages = ctx.aws.client("secretsmanager").get_paginator("list_secrets").paginate(
            Filters=[{"Key": "tag-key", "Values": [TAG_ENV]},
                     {"Key": "tag-value", "Values": [ctx.env]}])
        return [s for page in pages for s in page["SecretList"]]

    def list_owned(self, ctx: Context) -> dict[str, dict[str, Any]]:
        return {s["ARN"]: {**live, "tags": tags} for s in self._listed(ctx)
                if (tags := tags_dict(s.get("Tags"))).get(TAG_ENV) == ctx.env
                and (live := self._live(s)) is not None}

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        wanted = set(ids)
        return {s["ARN"]: live for s in self._listed(ctx)
                if s["ARN"] in wanted and (live := self._live(s)) is not None}

    def _describe(self, ctx: Context, id: str) -> dict[str, Any] | None:
        try:
            return ctx.aws.client("secretsmanager").describe_secret(SecretId=id)
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        item = self._describe(ctx, id)
        return self._live(item) if item else None

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        item = self._describe(ctx, id)
        return tags_dict(item.get("Tags")) if item and not item.get("DeletedDate") else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("secretsmanager").tag_resource(SecretId=id, Tags=[
            {"Key": k, "Value": v} for k, v in tags.items()])

    def import_fields(self, spec: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        # A secret made by hand keeps its value: it is taken as made the spec's way, never
        # replaced for an origin no read can see.
        if spec["generate"] == "ssh-ed25519" and TAG_PUBLIC_KEY not in tags:
            raise NgpError("a key's secret made by hand has no ngp:public-key tag, so ngp "
                           "cannot give its public half to the key pair",
                           hint=f"Tag the secret {TAG_PUBLIC_KEY}=<its public key, "
                           "\"ssh-ed25519 AAAA...\">, then import it again.")
        # An origin ngp tagged is read (a different one is a replacement, as import warns).
        return {k: spec[k] for k in ("generate", "variable")
                if k in spec and not (k == "generate" and TAG_GENERATE in tags)}

    def spec_tags(self, spec: dict[str, Any]) -> dict[str, str]:
        return {TAG_GENERATE: spec["generate"]}

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        item = self._describe(ctx, spec["name"])
        live = self._live(item) if item else None
        if item is None or live is None:
            return None
        check_owned(ctx, address, "secret", spec["name"], item.get("Tags", []))
        return live["id"], live

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        value, public = generate(spec["generate"], spec.get("variable"))
        debug_log.secret(value)  # sent as SecretString (redacted by its key), and never logged
        tags = {**ctx.tags(address, spec["name"]), TAG_GENERATE: spec["generate"]}
        if public:
            tags[TAG_PUBLIC_KEY] = public
        client = ctx.aws.client("secretsmanager")
        try:
            arn = eventually(lambda: client.create_secret(
                Name=spec["name"], Description=spec.get("description", ""), SecretString=value,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()]),
                codes=(), also=_name_still_deleted, deadline=REUSE_DEADLINE)["ARN"]
        except ClientError as exc:
            if not _name_still_deleted(exc):
                raise
            raise ResourceError(
                f"the secret name {spec['name']} is still held by a deleted secret after "
                f"{REUSE_DEADLINE:g} s", where=address,
                hint="If it was deleted with a recovery window, restore it (aws secretsmanager "
                "restore-secret) or delete it for good (delete-secret "
                "--force-delete-without-recovery); then run the command again.") from None
        return arn, {"id": arn, "arn": arn, "name": spec["name"], "public_key": public}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        if old.get("description") != new.get("description", ""):
            ctx.aws.client("secretsmanager").update_secret(
                SecretId=id, Description=new.get("description", ""))
        live = self.read(ctx, id) or {}
        return self.outputs_of(live)

    def delete(self, ctx: Context, id: str) -> None:
        try:
            ctx.aws.client("secretsmanager").delete_secret(
                SecretId=id, ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
