"""Lambda functions whose code is ngp's own, packaged by ngp into a deterministic zip, and the
permissions that let a service invoke them."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from functools import cache
from importlib import resources
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code, error_message, eventually, wait_until
from ngp.errors import ResourceError
from ngp.resources.base import (
    NAMED,
    Context,
    Field,
    Importable,
    Kind,
    PerParentKind,
    check_owned,
    kind,
    never_updated,
    tags_dict,
)

GONE = frozenset({"ResourceNotFoundException"})
ENI_TIMEOUT = 2700.0  # AWS releases a VPC function's network interfaces up to ~40 min later
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the zip epoch: the same source gives the same bytes


@cache
def package(name: str) -> bytes:
    """The zip of ngp/lambdas/<name>.py: one file, fixed time stamp and mode, so an unchanged
    function has an unchanged hash and is never deployed again."""
    source = resources.files("ngp.lambdas").joinpath(f"{name}.py").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        entry = zipfile.ZipInfo(f"{name}.py", date_time=FIXED_TIME)
        entry.external_attr = 0o644 << 16
        entry.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(entry, source, compresslevel=9)
    return buffer.getvalue()


def code_sha256(name: str) -> str:
    """The package's hash as Lambda reports it (CodeSha256: base64 of the SHA-256)."""
    return base64.b64encode(hashlib.sha256(package(name)).digest()).decode()


# What Lambda answers while a new role (or its new policy) has not reached it: the messages
# terraform-provider-aws retries CreateFunction on (lambda/function.go); IAM user guide,
# "Changes that I make are not always immediately visible".
ROLE_NOT_YET = ("cannot be assumed by Lambda", "execution role does not have permissions")


def _role_not_yet(exc: BaseException) -> bool:
    """A new role is not assumable by Lambda for a few seconds."""
    return error_code(exc) == "InvalidParameterValueException" and any(
        m in error_message(exc) for m in ROLE_NOT_YET)


@kind
class Function(Importable, Kind):
    """A Lambda function from one of ngp's packages (ngp/lambdas/<package>.py), optionally
    in the VPC. The code is compared by hash: a changed package is uploaded, an unchanged one
    never is.

    spec: {"name": "ngp-snapshot-dev", "package": "marathon_snapshot",
           "code_sha256": code_sha256("marathon_snapshot"),
           "handler": "marathon_snapshot.snapshot_handler", "runtime": "python3.12",
           "role_arn": Ref("marathon_snapshot.role", "arn"), "timeout": 120, "memory": 256,
           "environment": {"BUCKET": "ngp-snapshots-dev-111111111111"},
           "subnet_ids": [...], "security_group_ids": [...]}
    outputs: id (the name), arn.
    """

    name = "lambda.function"
    created_whole = True
    typical_seconds, typical_delete_seconds = 75.0, 1.0
    service = "lambda"
    # GetFunction answers a function's tags only to a caller allowed lambda:ListTags
    # (GetFunction's response, Tags; https://docs.aws.amazon.com/lambda/latest/dg/
    # configuration-tags.html): without it, ngp's own function would look untagged.
    actions = ("lambda:ListFunctions", "lambda:GetFunction", "lambda:ListTags",
               "lambda:CreateFunction", "lambda:TagResource", "lambda:UpdateFunctionCode",
               "lambda:UpdateFunctionConfiguration", "lambda:DeleteFunction",
               "iam:PassRole", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
               "ec2:DescribeVpcs", "ec2:DescribeNetworkInterfaces")
    fields = (Field("name", replaces=True), Field("package"), Field("code_sha256"),
              Field("handler"), Field("runtime"), Field("role_arn"), Field("timeout"),
              Field("memory"), Field("environment"), Field("subnet_ids", set=True),
              Field("security_group_ids", set=True))
    outputs = ("id", "name", "arn")
    echoes = NAMED

    def _live(self, item: dict[str, Any]) -> dict[str, Any]:
        vpc = item.get("VpcConfig") or {}
        return self.canonical({
            "id": item["FunctionName"], "name": item["FunctionName"],
            "arn": item["FunctionArn"], "code_sha256": item.get("CodeSha256"),
            "handler": item.get("Handler"), "runtime": item.get("Runtime"),
            "role_arn": item.get("Role"), "timeout": item.get("Timeout"),
            "memory": item.get("MemorySize"),
            "environment": (item.get("Environment") or {}).get("Variables", {}),
            "subnet_ids": vpc.get("SubnetIds", []),
            "security_group_ids": vpc.get("SecurityGroupIds", []),
            "status": str(item.get("State", "Active")).lower()})

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        pages = ctx.aws.client("lambda").get_paginator("list_functions").paginate()
        return {f["FunctionName"]: self._live(f) for page in pages for f in page["Functions"]
                if f["FunctionName"] in ids}

    def _get(self, ctx: Context, name: str) -> dict[str, Any] | None:
        try:
            return ctx.aws.client("lambda").get_function(FunctionName=name)
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        found = self._get(ctx, id)
        return self._live(found["Configuration"]) if found else None

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        found = self._get(ctx, id)
        return tags_dict(found.get("Tags")) if found else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("lambda").tag_resource(Resource=ctx.arn("lambda", f"function:{id}"),
                                              Tags=tags)

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        found = self._get(ctx, spec["name"])
        if found is None:
            return None
        check_owned(ctx, address, "Lambda function", spec["name"], tags_dict(found.get("Tags")))
        return spec["name"], self._live(found["Configuration"])

    def _configuration(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {"Role": spec["role_arn"], "Handler": spec["handler"],
                "Runtime": spec["runtime"], "Timeout": spec["timeout"],
                "MemorySize": spec["memory"],
                "Environment": {"Variables": spec.get("environment", {})},
                "VpcConfig": {"SubnetIds": spec.get("subnet_ids", []),
                              "SecurityGroupIds": spec.get("security_group_ids", [])}}

    def _check_package(self, address: str, spec: dict[str, Any]) -> bytes:
        code = package(spec["package"])
        if code_sha256(spec["package"]) != spec["code_sha256"]:
            raise ResourceError("the package changed while ngp ran", where=address,
                                hint="Run the command again.")
        return code

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        client = ctx.aws.client("lambda")
        code = self._check_package(address, spec)
        item = eventually(lambda: client.create_function(
            FunctionName=spec["name"], Code={"ZipFile": code}, Publish=False,
            Tags=ctx.tags(address, spec["name"]), **self._configuration(spec)),
            also=_role_not_yet)
        client.get_waiter("function_active_v2").wait(FunctionName=spec["name"])
        return spec["name"], {"id": spec["name"], "name": spec["name"],
                              "arn": item["FunctionArn"]}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        client = ctx.aws.client("lambda")
        if old.get("code_sha256") != new["code_sha256"]:
            client.update_function_code(FunctionName=id,
                                        ZipFile=self._check_package(id, new))
            client.get_waiter("function_updated_v2").wait(FunctionName=id)
        configuration = self._configuration(new)
        if any(old.get(k) != new.get(k) for k in ("role_arn", "handler", "runtime", "timeout",
                                                   "memory", "environment", "subnet_ids",
                                                   "security_group_ids")):
            eventually(lambda: client.update_function_configuration(
                FunctionName=id, **configuration), also=_role_not_yet)
            client.get_waiter("function_updated_v2").wait(FunctionName=id)
        return self.outputs_of(self.read(ctx, id) or {"id": id})

    def delete(self, ctx: Context, id: str) -> None:
        try:
            ctx.aws.client("lambda").delete_function(FunctionName=id)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
        # A function in a VPC leaves network interfaces that hold its subnets and security
        # groups until AWS releases them: wait, so what depends on them can go.
        ec2 = ctx.aws.client("ec2")

        def released() -> bool | None:
            left = ec2.describe_network_interfaces(Filters=[
                {"Name": "description", "Values": [f"AWS Lambda VPC ENI-{id}*"]}])
            return True if not left["NetworkInterfaces"] else None

        wait_until(released, what=f"the network interfaces of Lambda function {id} to be "
                   "released", timeout=ENI_TIMEOUT, first_delay=2.0, max_delay=30.0,
                   hint="AWS releases them on its own; run `ngp down` again later to delete "
                   "the security groups and subnets they hold.")


@kind
class Permission(PerParentKind):
    """A statement of a function's resource policy: who may invoke it (EventBridge for a
    schedule, API Gateway for a route). AWS cannot tag it: its id is function/statement.

    spec: {"function": Ref("marathon_snapshot.snapshot"), "statement_id": "schedule",
           "principal": "events.amazonaws.com",
           "source_arn": Ref("marathon_snapshot.schedule", "arn")}
    """

    name = "lambda.permission"
    service = "lambda"
    actions = ("lambda:GetPolicy", "lambda:AddPermission", "lambda:RemovePermission")
    fields = (Field("function", replaces=True), Field("statement_id", replaces=True),
              Field("principal", replaces=True), Field("source_arn", replaces=True))
    parent_field, child_field, parent_gone = "function", "statement_id", GONE

    def read_children(self, ctx: Context, function: str) -> dict[str, dict[str, Any]]:
        policy = ctx.aws.client("lambda").get_policy(FunctionName=function)["Policy"]
        found = {}
        for statement in json.loads(policy).get("Statement", []):
            principal = statement.get("Principal", {})
            condition = statement.get("Condition", {}).get("ArnLike", {})
            found[statement["Sid"]] = {
                "id": f"{function}/{statement['Sid']}", "function": function,
                "statement_id": statement["Sid"],
                "principal": principal.get("Service") if isinstance(principal, dict)
                else principal,
                "source_arn": condition.get("AWS:SourceArn"), "status": "granted"}
        return found

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ctx.aws.client("lambda").add_permission(
            FunctionName=spec["function"], StatementId=spec["statement_id"],
            Action="lambda:InvokeFunction", Principal=spec["principal"],
            SourceArn=spec["source_arn"])
        id = f"{spec['function']}/{spec['statement_id']}"
        return id, {"id": id}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        raise never_updated(self, id)

    def delete(self, ctx: Context, id: str) -> None:
        function, statement = self.split_id(id)
        try:
            ctx.aws.client("lambda").remove_permission(FunctionName=function,
                                                       StatementId=statement)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
