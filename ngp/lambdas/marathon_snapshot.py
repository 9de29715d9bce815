"""Marathon snapshots in S3, and their restore.

ngp's own logic, run three ways: hourly by a Lambda function (snapshot_handler), on demand
behind API Gateway (restore_handler), and from a user's machine (`ngp snapshot`, `ngp
restore`). It imports only what the Lambda Python runtime has: the standard library and boto3.

A snapshot is one JSON object, snapshots/<UTC time>.json: every app's definition (without
what Marathon manages itself: versions, task counts, deployments) and the group tree. Env
values ngp took from Secrets Manager (labelled NGP_SECRET_<VAR>) are kept as references and
read again at restore, so no secret value is ever written to the bucket.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

FORMAT = 1
PREFIX = "snapshots/"
SECRET_LABEL = "NGP_SECRET_"
ENV_LABEL = "NGP_ENV"  # the env that deployed an app (ngp.marathon.app)
# What Marathon adds to an app and manages itself (shared/reference/marathon/API-NOTES.md).
MANAGED = ("version", "versionInfo", "tasksStaged", "tasksRunning", "tasksHealthy",
           "tasksUnhealthy", "deployments", "tasks", "lastTaskFailure",
           "readinessCheckResults", "taskStats", "tasksStats")

# request(method, path, body) -> (status, parsed body): how the logic reaches Marathon.
Request = Callable[[str, str, Any], tuple[int, Any]]


class SnapshotError(Exception):
    """Marathon or S3 refused what a snapshot or a restore needs."""


def urllib_request(url: str, token: str | None = None, timeout: float = 30) -> Request:
    """Marathon over HTTP with the standard library (the Lambda runtime has no httpx)."""

    def request(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"token={token}"
        call = urllib.request.Request(url.rstrip("/") + path, data=data, method=method,
                                      headers=headers)
        try:
            with urllib.request.urlopen(call, timeout=timeout) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, text

    return request


def _ok(status: int, body: Any, what: str) -> Any:
    if status >= 300:
        raise SnapshotError(f"{what} failed with {status}: {str(body)[:300]}")
    return body


def definition(app: dict[str, Any]) -> dict[str, Any]:
    """An app as it can be PUT back: Marathon's own fields out, ngp's secrets as references."""
    out = {k: v for k, v in app.items() if k not in MANAGED}
    labels = out.get("labels") or {}
    env = dict(out.get("env") or {})
    for label, arn in labels.items():
        if label.startswith(SECRET_LABEL) and label[len(SECRET_LABEL):] in env:
            env[label[len(SECRET_LABEL):]] = {"secret": arn}
    if env:
        out["env"] = env
    return out


def group_definition(group: dict[str, Any]) -> dict[str, Any]:
    """A group tree with every app in it as definition() makes it."""
    return {**group, "apps": [definition(a) for a in group.get("apps", [])],
            "groups": [group_definition(g) for g in group.get("groups", [])]}


def key_for(moment: datetime) -> str:
    return f"{PREFIX}{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"


def take(request: Request, s3: Any, bucket: str, now: datetime | None = None) -> str:
    """Write one snapshot of every app and group; return its key."""
    moment = now or datetime.now(UTC)
    apps = _ok(*request("GET", "/v2/apps", None), "listing Marathon's apps")["apps"]
    groups = _ok(*request("GET", "/v2/groups", None), "reading Marathon's groups")
    document = {"format": FORMAT, "taken_at": moment.isoformat(),
                "apps": sorted((definition(a) for a in apps), key=lambda a: a["id"]),
                "groups": group_definition(groups)}
    key = key_for(moment)
    s3.put_object(Bucket=bucket, Key=key, ContentType="application/json",
                  Body=json.dumps(document, sort_keys=True, indent=1).encode())
    return key


def listing(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """Every snapshot, oldest first: key, size, when."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        for item in page.get("Contents", []):
            found.append({"key": item["Key"], "size": item["Size"],
                          "modified": item["LastModified"].isoformat()})
    return sorted(found, key=lambda s: s["key"])


def restore(request: Request, s3: Any, bucket: str, key: str | None = None,
            secret: Callable[[str], str] | None = None, tries: int = 12,
            pause: float = 1.0, max_pause: float = 10.0,
            env: str | None = None) -> dict[str, Any]:
    """Put every app of a snapshot (the latest, or `key`) back as it was, except the apps
    another env than `env` deployed (labelled so): those are that env's to restore. An app
    locked by a deployment (409) is tried again, `tries` times, after a pause that grows by
    half each time up to max_pause (about 70 s in all)."""
    if key is None:
        snapshots = listing(s3, bucket)
        if not snapshots:
            raise SnapshotError(f"bucket {bucket} has no snapshot yet")
        key = snapshots[-1]["key"]
    try:
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        raise SnapshotError(f"no snapshot {key} in bucket {bucket}") from None
    if document.get("format") != FORMAT:
        raise SnapshotError(f"snapshot {key} has format {document.get('format')}, "
                            f"this restore reads {FORMAT}")
    restored, skipped = [], []
    for app in document["apps"]:
        owner = (app.get("labels") or {}).get(ENV_LABEL)
        if env and owner and owner != env:
            skipped.append(app["id"])
            continue
        body = dict(app)
        values = dict(body.get("env") or {})
        for name, value in values.items():
            if isinstance(value, dict) and set(value) == {"secret"}:
                if secret is None:
                    raise SnapshotError(f"app {app['id']} needs secret {name}, and this "
                                        "restore cannot read secrets")
                values[name] = secret(value["secret"])
        if values:
            body["env"] = values
        path = "/v2/apps/" + app["id"].strip("/") + "?partialUpdate=false"
        wait = pause
        for attempt in range(tries):
            status, answer = request("PUT", path, body)
            if status != 409 or attempt == tries - 1:
                break
            time.sleep(wait)  # locked by a deployment: it ends on its own
            wait = min(wait * 1.5, max_pause)
        _ok(status, answer, f"restoring app {app['id']}")
        restored.append(app["id"])
    result: dict[str, Any] = {"snapshot": key, "apps": restored}
    if skipped:
        result["other_envs_apps"] = skipped
    return result


def _boto3(service: str) -> Any:
    import boto3  # the Lambda runtime has it; imported here so the module loads without it

    return boto3.client(service)


def snapshot_handler(event: Any, context: Any) -> dict[str, Any]:
    """The hourly schedule's target."""
    key = take(urllib_request(os.environ["MARATHON_URL"]), _boto3("s3"), os.environ["BUCKET"])
    return {"snapshot": key}


def restore_handler(event: Any, context: Any) -> dict[str, Any]:
    """POST /restore behind API Gateway (IAM auth): body {} for the latest snapshot, or
    {"snapshot": "<key>"}."""
    try:
        body = json.loads((event or {}).get("body") or "{}")
        secrets = _boto3("secretsmanager")
        result = restore(urllib_request(os.environ["MARATHON_URL"]), _boto3("s3"),
                         os.environ["BUCKET"], body.get("snapshot"),
                         env=os.environ.get("NGP_ENV"),
                         secret=lambda arn: secrets.get_secret_value(SecretId=arn)[
                             "SecretString"])
        return {"statusCode": 200, "body": json.dumps(result)}
    except (SnapshotError, ValueError) as exc:
        return {"statusCode": 400, "body": json.dumps({"error": str(exc)})}
