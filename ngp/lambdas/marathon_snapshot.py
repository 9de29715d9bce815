"""Marathon snapshots in S3, and their restore.

ngp's own logic, run three ways: hourly by a Lambda function (snapshot_handler), on demand
behind API Gateway (start_handler, which starts restore_handler and answers at once), and from
a user's machine (`ngp snapshot`, `ngp restore`). It imports only what the Lambda Python
runtime has: the standard library and boto3.

A restore can take minutes (each app waits out its deployment), longer than API Gateway waits
for a Lambda integration (29 s by default: "Maximum integration timeout", API Gateway quotas,
https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html). So POST /restore
records restores/<id>.json, invokes the restore asynchronously (InvocationType=Event) and
answers 202 with the id; the restore updates that record as it goes: status started, running,
then done or failed, the apps done and failed, when it started and finished, and the error.

A snapshot is one JSON object, snapshots/<UTC time>.json: every app's definition (without
what Marathon manages itself: versions, task counts, deployments) and the group tree. Env
values ngp took from Secrets Manager (labelled NGP_SECRET_<VAR>) are kept as references and
read again at restore, so no secret value is ever written to the bucket.

A restore plans first (plan(): each app of the snapshot against what Marathon has now) and
puts back only the apps that are gone or differ: an app as it was in the snapshot is left
alone, its version unchanged. The functions compare definitions as Marathon answers them (the
snapshot's came from the same Marathon, so its defaults are in both); `ngp restore` compares
them in ngp's canonical form (ngp.marathon.rules.comparable), which ignores more.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FORMAT = 1
PREFIX = "snapshots/"
RESTORES = "restores/"
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


class Progress:
    """A restore's record, restores/<id>.json in the snapshot bucket, written at each step."""

    def __init__(self, s3: Any, bucket: str, id: str | None = None,
                 record: dict[str, Any] | None = None) -> None:
        self.s3, self.bucket = s3, bucket
        self.record = record or {
            "id": id or new_id(), "status": "started", "snapshot": None, "done": [],
            "failed": [], "unchanged": [], "started": _now(), "finished": None,
            "error": None}

    @property
    def id(self) -> str:
        return self.record["id"]

    def update(self, **fields: Any) -> None:
        self.record.update(fields)
        if fields.get("status") in ("done", "failed"):
            self.record["finished"] = _now()
        self.s3.put_object(Bucket=self.bucket, Key=record_key(self.id),
                           ContentType="application/json",
                           Body=json.dumps(self.record, sort_keys=True, indent=1).encode())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_id() -> str:
    """A restore's id: when it started, and a random part so two at once differ."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def record_key(id: str) -> str:
    if not id or "/" in id or ".." in id:
        raise SnapshotError(f"{id!r} is not a restore's id")
    return f"{RESTORES}{id}.json"


def status(s3: Any, bucket: str, id: str) -> dict[str, Any]:
    """A restore's record, as the restore last wrote it."""
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=record_key(id))["Body"].read())
    except s3.exceptions.NoSuchKey:
        raise SnapshotError(f"no restore {id} in bucket {bucket}") from None


def chosen(s3: Any, bucket: str, key: str | None) -> str:
    """The snapshot a restore reads: `key`, which must exist, or the latest."""
    if key is None:
        snapshots = listing(s3, bucket)
        if not snapshots:
            raise SnapshotError(f"bucket {bucket} has no snapshot yet")
        return snapshots[-1]["key"]
    if not key.startswith(PREFIX):
        raise SnapshotError(f"no snapshot {key} in bucket {bucket}")
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            raise SnapshotError(f"no snapshot {key} in bucket {bucket}") from None
        raise
    return key


def read(s3: Any, bucket: str, key: str | None) -> tuple[str, dict[str, Any]]:
    """The snapshot a restore reads (`key`, or the latest): its key and its document."""
    key = chosen(s3, bucket, key)
    try:
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        raise SnapshotError(f"no snapshot {key} in bucket {bucket}") from None
    if document.get("format") != FORMAT:
        raise SnapshotError(f"snapshot {key} has format {document.get('format')}, "
                            f"this restore reads {FORMAT}")
    return key, document


def apps_now(request: Request) -> list[dict[str, Any]]:
    return _ok(*request("GET", "/v2/apps", None), "listing Marathon's apps")["apps"]


@dataclass(frozen=True)
class RestorePlan:
    """What a restore of a snapshot would do: the apps to create (gone from Marathon), to
    change (with the fields that differ), left alone as they are, left to another env, and
    the apps Marathon has that the snapshot has not (left alone too: a restore deletes
    nothing)."""

    snapshot: str
    taken_at: str | None
    create: list[str] = field(default_factory=list)
    change: dict[str, list[str]] = field(default_factory=dict)
    # Of the fields that differ, the numbers and switches (instances, cpus, mem...): now and
    # in the snapshot. Other values are not shown: an app's env may hold a secret.
    values: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    same: list[str] = field(default_factory=list)
    other_envs_apps: list[str] = field(default_factory=list)
    not_in_snapshot: list[str] = field(default_factory=list)

    @property
    def to_put(self) -> list[str]:
        return sorted([*self.create, *self.change])

    def to_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "taken_at": self.taken_at, "create": self.create,
                "change": [{"id": id, "fields": f, "values": self.values.get(id, {})}
                           for id, f in self.change.items()],
                "same": self.same, "other_envs_apps": self.other_envs_apps,
                "not_in_snapshot": self.not_in_snapshot}


def plan(key: str, document: dict[str, Any], live: list[dict[str, Any]],
         env: str | None = None,
         canonical: Callable[[dict[str, Any]], dict[str, Any]] = definition) -> RestorePlan:
    """Each app of the snapshot against Marathon's apps now (`live`, as GET /v2/apps answers),
    both compared as `canonical` makes a definition. Apps another env than `env` deployed
    (labelled so) are that env's to restore."""
    now = {a["id"]: canonical(definition(a)) for a in live}
    result = RestorePlan(key, document.get("taken_at"))
    for app in sorted(document["apps"], key=lambda a: a["id"]):
        owner = (app.get("labels") or {}).get(ENV_LABEL)
        if env and owner and owner != env:
            result.other_envs_apps.append(app["id"])
        elif app["id"] not in now:
            result.create.append(app["id"])
        else:
            old, new = now[app["id"]], canonical(app)
            differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            if differ:
                result.change[app["id"]] = differ
                result.values[app["id"]] = {
                    k: {"now": old[k], "snapshot": new[k]} for k in differ
                    if isinstance(old.get(k), int | float) and isinstance(new.get(k), int | float)}
            else:
                result.same.append(app["id"])
    result.not_in_snapshot.extend(sorted(set(now) - {a["id"] for a in document["apps"]}))
    return result


def restore(request: Request, s3: Any, bucket: str, key: str | None = None,
            secret: Callable[[str], str] | None = None, tries: int = 12,
            pause: float = 1.0, max_pause: float = 10.0,
            progress: Progress | None = None, env: str | None = None,
            canonical: Callable[[dict[str, Any]], dict[str, Any]] = definition,
            planned: RestorePlan | None = None) -> dict[str, Any]:
    """Put back the apps of a snapshot (the latest, or `key`) that are gone from Marathon or
    differ from it, as they were; the others are left alone (no PUT, so no new version). The
    apps are `planned`'s (a plan of the same snapshot the caller showed), or plan()'s now.
    The apps another env than `env` deployed (labelled so) are that env's to restore, and
    are listed as other_envs_apps. An app locked by a deployment (409) is tried again,
    `tries` times, after a pause that grows by half each time up to max_pause (about 70 s in
    all). An app Marathon refuses is recorded as failed and the others are restored all the
    same; then the restore fails, naming them. With `progress`, its record says how far it
    got after each app."""
    progress = progress or Progress(_Nowhere(), bucket)
    try:
        key, document = read(s3, bucket, planned.snapshot if planned else key)
        progress.update(status="running", snapshot=key)
        todo = planned or plan(key, document, apps_now(request), env, canonical)
        progress.update(unchanged=todo.same)
        errors = []
        wanted = set(todo.to_put)
        for app in document["apps"]:
            if app["id"] not in wanted:
                continue
            try:
                _put_back(request, app, secret, tries, pause, max_pause)
            except SnapshotError as exc:
                errors.append(str(exc))
                progress.update(failed=[*progress.record["failed"], app["id"]])
                continue
            progress.update(done=[*progress.record["done"], app["id"]])
        if errors:
            raise SnapshotError(f"{len(errors)} of {len(wanted)} apps were not "
                                f"restored: {'; '.join(errors)}"[:1000])
    except Exception as exc:
        progress.update(status="failed", error=str(exc)[:1000])
        raise
    progress.update(status="done")
    result = {"snapshot": key, "apps": progress.record["done"], "unchanged": todo.same,
              "restore": progress.id}
    if todo.other_envs_apps:
        result["other_envs_apps"] = todo.other_envs_apps
    return result


class _Nowhere:
    """Where the progress of a restore nobody asked to record goes."""

    def put_object(self, **_: Any) -> None:
        pass


def _put_back(request: Request, app: dict[str, Any], secret: Callable[[str], str] | None,
              tries: int, pause: float, max_pause: float) -> None:
    body = dict(app)
    env = dict(body.get("env") or {})
    for name, value in env.items():
        # ngp.graph.is_secret_ref's test: the Lambda runs without ngp installed.
        if isinstance(value, dict) and set(value) == {"secret"}:
            if secret is None:
                raise SnapshotError(f"app {app['id']} needs secret {name}, and this "
                                    "restore cannot read secrets")
            env[name] = secret(value["secret"])
    if env:
        body["env"] = env
    path = "/v2/apps/" + app["id"].strip("/") + "?partialUpdate=false"
    wait = pause
    # Hand-written, not tenacity: the Lambda runtime has only the stdlib and boto3.
    for attempt in range(tries):
        status, answer = request("PUT", path, body)
        if status != 409 or attempt == tries - 1:
            break
        time.sleep(wait)  # locked by a deployment: it ends on its own
        wait = min(wait * 1.5, max_pause)
    _ok(status, answer, f"restoring app {app['id']}")


def _boto3(service: str) -> Any:
    import boto3  # the Lambda runtime has it; imported here so the module loads without it

    return boto3.client(service)


def snapshot_handler(event: Any, context: Any) -> dict[str, Any]:
    """The hourly schedule's target."""
    key = take(urllib_request(os.environ["MARATHON_URL"]), _boto3("s3"), os.environ["BUCKET"])
    return {"snapshot": key}


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body)}


def start_handler(event: Any, context: Any) -> dict[str, Any]:
    """POST /restore behind API Gateway (IAM auth): body {} for the latest snapshot, or
    {"snapshot": "<key>"}. Records the restore, starts it asynchronously and answers 202
    with its id at once (GET the record: restores/<id>.json, or `ngp restore --status`)."""
    try:
        body = json.loads((event or {}).get("body") or "{}")
        if not isinstance(body, dict):
            raise ValueError("the body is a JSON object: {} or {\"snapshot\": \"<key>\"}")
        s3, bucket = _boto3("s3"), os.environ["BUCKET"]
        key = chosen(s3, bucket, body.get("snapshot"))
    except (SnapshotError, ValueError) as exc:
        return _answer(400, {"error": str(exc)})
    progress = Progress(s3, bucket)
    progress.update(snapshot=key)
    try:
        _boto3("lambda").invoke(FunctionName=os.environ["RESTORE_FUNCTION"],
                                InvocationType="Event",
                                Payload=json.dumps({"restore": progress.id, "snapshot": key}))
    except Exception as exc:  # Lambda refused to queue it: say so, in the record too
        progress.update(status="failed", error=f"the restore could not be started: {exc}")
        return _answer(500, {"restore": progress.id, "status": "failed", "error": str(exc)})
    return _answer(202, {"restore": progress.id, "status": "started", "snapshot": key,
                         "record": f"s3://{bucket}/{record_key(progress.id)}"})


def restore_handler(event: Any, context: Any) -> dict[str, Any]:
    """The restore itself, invoked asynchronously by start_handler with {"restore": <id>,
    "snapshot": <key>}. It never raises: Lambda would run a failed asynchronous invocation
    again, and the record already says what failed. A record found past "started" means an
    earlier attempt was cut off (the function's timeout): it is marked failed, not rerun."""
    s3, bucket = _boto3("s3"), os.environ["BUCKET"]
    try:
        progress = Progress(s3, bucket, record=status(s3, bucket, event["restore"]))
    except (SnapshotError, KeyError, TypeError) as exc:
        return {"error": f"not a restore this function can run: {exc}"}
    if progress.record["status"] != "started":
        if progress.record["status"] == "running":
            progress.update(status="failed", error="the restore was cut off (the function's "
                            "timeout?) before it finished; start a new one")
        return progress.record
    secrets = _boto3("secretsmanager")
    try:
        return restore(urllib_request(os.environ["MARATHON_URL"]), s3, bucket,
                       event.get("snapshot"), progress=progress,
                       env=os.environ.get("NGP_ENV"),
                       secret=lambda arn: secrets.get_secret_value(SecretId=arn)[
                           "SecretString"])
    except Exception:  # restore() recorded it; a raise would make Lambda run it again
        return progress.record
