"""EventBridge schedules and their targets."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code
from ngp.resources.base import (
    NAMED,
    Context,
    Field,
    Importable,
    Kind,
    PerParentKind,
    check_owned,
    kind,
    tags_dict,
)

GONE = frozenset({"ResourceNotFoundException"})


@kind
class Rule(Importable, Kind):
    """A scheduled rule on the default event bus.

    spec: {"name": "ngp-snapshot-dev", "schedule": "rate(60 minutes)",
           "description": "Marathon snapshots", "enabled": true}
    outputs: id (the name), arn.
    """

    name = "events.rule"
    service = "events"
    actions = ("events:ListRules", "events:DescribeRule", "events:ListTagsForResource",
               "events:PutRule", "events:TagResource", "events:DeleteRule")
    fields = (Field("name", replaces=True), Field("schedule"), Field("description"),
              Field("enabled"))
    outputs = ("id", "name", "arn")
    echoes = NAMED

    def _live(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["Name"], "name": item["Name"], "arn": item["Arn"],
                "schedule": item.get("ScheduleExpression"),
                "description": item.get("Description", ""),
                "enabled": item.get("State") == "ENABLED",
                "status": str(item.get("State", "")).lower()}

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        pages = ctx.aws.client("events").get_paginator("list_rules").paginate()
        return {r["Name"]: self._live(r) for page in pages for r in page["Rules"]
                if r["Name"] in ids}

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        try:
            return self._live(ctx.aws.client("events").describe_rule(Name=id))
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise

    def _tags(self, ctx: Context, arn: str) -> dict[str, str]:
        return tags_dict(ctx.aws.client("events").list_tags_for_resource(ResourceARN=arn)["Tags"])

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        live = self.read(ctx, id)
        return self._tags(ctx, live["arn"]) if live else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("events").tag_resource(ResourceARN=ctx.arn("events", f"rule/{id}"), Tags=[
            {"Key": k, "Value": v} for k, v in tags.items()])

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        live = self.read(ctx, spec["name"])
        if live is None:
            return None
        check_owned(ctx, address, "EventBridge rule", spec["name"], self._tags(ctx, live["arn"]))
        return live["id"], live

    def _put(self, ctx: Context, spec: dict[str, Any], **extra: Any) -> str:
        return ctx.aws.client("events").put_rule(
            Name=spec["name"], ScheduleExpression=spec["schedule"],
            Description=spec.get("description", ""),
            State="ENABLED" if spec.get("enabled", True) else "DISABLED", **extra)["RuleArn"]

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        # PutRule creates or replaces: look first, so another env's rule is never rewritten.
        self.find(ctx, address, spec)
        arn = self._put(ctx, spec, Tags=[{"Key": k, "Value": v}
                                          for k, v in ctx.tags(address, spec["name"]).items()])
        return spec["name"], {"id": spec["name"], "name": spec["name"], "arn": arn}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        return {"id": id, "name": id, "arn": self._put(ctx, new)}

    def delete(self, ctx: Context, id: str) -> None:
        try:
            ctx.aws.client("events").delete_rule(Name=id)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise


@kind
class Target(PerParentKind):
    """What a rule invokes. AWS cannot tag it: its id is rule/target id.

    spec: {"rule": Ref("marathon_snapshot.schedule"), "target_id": "snapshot",
           "arn": Ref("marathon_snapshot.snapshot", "arn")}
    """

    name = "events.target"
    service = "events"
    actions = ("events:ListTargetsByRule", "events:PutTargets", "events:RemoveTargets")
    fields = (Field("rule", replaces=True), Field("target_id", replaces=True), Field("arn"))
    parent_field, child_field, parent_gone = "rule", "target_id", GONE

    def read_children(self, ctx: Context, rule: str) -> dict[str, dict[str, Any]]:
        targets = ctx.aws.client("events").list_targets_by_rule(Rule=rule)["Targets"]
        return {t["Id"]: {"id": f"{rule}/{t['Id']}", "rule": rule, "target_id": t["Id"],
                          "arn": t["Arn"], "status": "attached"} for t in targets}

    def _put(self, ctx: Context, spec: dict[str, Any]) -> str:
        ctx.aws.client("events").put_targets(Rule=spec["rule"], Targets=[
            {"Id": spec["target_id"], "Arn": spec["arn"]}])
        return f"{spec['rule']}/{spec['target_id']}"

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        id = self._put(ctx, spec)
        return id, {"id": id}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        return {"id": self._put(ctx, new)}

    def delete(self, ctx: Context, id: str) -> None:
        rule, target = self.split_id(id)
        try:
            ctx.aws.client("events").remove_targets(Rule=rule, Ids=[target])
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
