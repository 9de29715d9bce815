"""CloudWatch log groups, made by ngp before the functions that write to them, so their logs
have a retention and `ngp down` leaves none behind (Lambda would make them untagged)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code
from ngp.resources.base import NAMED, Context, Field, Importable, Kind, check_owned, kind

GONE = frozenset({"ResourceNotFoundException"})


@kind
class LogGroup(Importable, Kind):
    """A log group with a retention.

    spec: {"name": "/aws/lambda/ngp-snapshot-dev", "retention_days": 30}
    outputs: id (the name), arn.
    """

    name = "logs.group"
    service = "logs"
    actions = ("logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:CreateLogGroup",
               "logs:TagResource", "logs:PutRetentionPolicy", "logs:DeleteLogGroup")
    fields = (Field("name", replaces=True), Field("retention_days"))
    outputs = ("id", "name", "arn")
    echoes = NAMED

    def _live(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["logGroupName"], "name": item["logGroupName"],
                "arn": item["arn"].removesuffix(":*"),
                "retention_days": item.get("retentionInDays"), "status": "available"}

    def _describe(self, ctx: Context, prefix: str) -> list[dict[str, Any]]:
        pages = ctx.aws.client("logs").get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=prefix)
        return [g for page in pages for g in page["logGroups"]]

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        prefix = min(ids)
        while not all(id.startswith(prefix) for id in ids):
            prefix = prefix[:-1]
        return {g["logGroupName"]: self._live(g) for g in self._describe(ctx, prefix)
                if g["logGroupName"] in ids}

    def _tags(self, ctx: Context, arn: str) -> dict[str, str]:
        return dict(ctx.aws.client("logs").list_tags_for_resource(resourceArn=arn)["tags"])

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        live = self.read(ctx, id)
        return self._tags(ctx, live["arn"]) if live else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        # The ARN without its ":*" (TagResource, CloudWatch Logs API reference).
        ctx.aws.client("logs").tag_resource(resourceArn=ctx.arn("logs", f"log-group:{id}"),
                                            tags=tags)

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        live = self.read(ctx, spec["name"])
        if live is None:
            return None
        check_owned(ctx, address, "log group", spec["name"], self._tags(ctx, live["arn"]))
        return live["id"], live

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        logs = ctx.aws.client("logs")
        logs.create_log_group(logGroupName=spec["name"], tags=ctx.tags(address))
        logs.put_retention_policy(logGroupName=spec["name"],
                                  retentionInDays=spec["retention_days"])
        return spec["name"], self.outputs_of(
            self.read(ctx, spec["name"]) or {"id": spec["name"], "name": spec["name"]})

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        ctx.aws.client("logs").put_retention_policy(logGroupName=id,
                                                    retentionInDays=new["retention_days"])
        return self.outputs_of(self.read(ctx, id) or {"id": id})

    def delete(self, ctx: Context, id: str) -> None:
        try:
            ctx.aws.client("logs").delete_log_group(logGroupName=id)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
