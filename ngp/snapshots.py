"""`ngp snapshot` and `ngp restore`: the Lambda functions' own logic, run from the user's
machine with the env's Marathon client and AWS session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ngp import debug_log
from ngp.aws import error_message
from ngp.engine import Run, phase
from ngp.errors import NgpError
from ngp.lambdas import marathon_snapshot as logic
from ngp.marathon.client import MarathonError
from ngp.marathon.endpoints import recorded_endpoint

BUCKET = "marathon_snapshot.bucket"


def _bucket(run: Run) -> str:
    rec = run.state.resources.get(BUCKET)
    if rec is None:
        raise NgpError(f"env {run.settings.env!r} has no snapshot bucket",
                       hint="Turn on the marathon_snapshot module and run `ngp up`.")
    return rec.id


def _request(run: Run) -> logic.Request:
    """Requests to the env's Marathon: where its recorded ready gate says, or its fixed one."""
    if run.marathons is None:
        raise NgpError(f"env {run.settings.env!r} has no Marathon",
                       hint="Turn on the dcos module, or set marathon_url.")
    marathon = run.marathons.at(recorded_endpoint(run.state))

    def request(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = marathon.request(method, path, body=body)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    return request


def _failing(what: str, exc: Exception) -> NgpError:
    detail = error_message(exc) if isinstance(exc, ClientError) else str(exc)
    return NgpError(f"{what} failed: {detail}")


def take(run: Run) -> str:
    try:
        with phase(run.reporter, "Reading every Marathon app and group, and writing them"):
            return logic.take(_request(run), run.aws.client("s3"), _bucket(run))
    except (logic.SnapshotError, ClientError) as exc:
        raise _failing("the snapshot", exc) from None


def listing(run: Run) -> list[dict[str, Any]]:
    try:
        return logic.listing(run.aws.client("s3"), _bucket(run))
    except ClientError as exc:
        raise _failing("listing snapshots", exc) from None


def comparable(app: dict[str, Any]) -> dict[str, Any]:
    """An app as ngp compares it (ngp.marathon.rules): Marathon's defaults and the ports it
    assigns ignored, set-like fields in any order."""
    from ngp.marathon import rules

    return app if rules.id_errors(app.get("id")) else rules.comparable(app)


def plan_restore(run: Run, key: str | None) -> logic.RestorePlan:
    """What a restore of snapshot `key` (default the latest) would do to the env's Marathon
    now; changes nothing."""
    s3 = run.aws.client("s3")
    try:
        key, document = logic.read(s3, _bucket(run), key)
        return logic.plan(key, document, logic.apps_now(_request(run)), env=run.settings.env,
                          canonical=comparable)
    except (logic.SnapshotError, ClientError, MarathonError) as exc:
        raise _failing("planning the restore", exc) from None


def restore(run: Run, planned: logic.RestorePlan,
            started: Callable[[str], None] = lambda id: None) -> dict[str, Any]:
    """The restore of what `planned` puts back (and nothing else), recorded in the bucket as
    the function records it (restores/<id>.json); `started` hears the id once the record
    exists."""
    secrets = run.aws.client("secretsmanager")
    s3 = run.aws.client("s3")
    try:
        progress = logic.Progress(s3, _bucket(run))
        progress.update()
        started(progress.id)
        with phase(run.reporter, f"Putting back the apps of {planned.snapshot}"):
            return logic.restore(
                _request(run), s3, progress.bucket, planned=planned, progress=progress,
                env=run.settings.env,
                secret=lambda arn: _revealed(secrets.get_secret_value(SecretId=arn)))
    except (logic.SnapshotError, ClientError, MarathonError) as exc:
        raise _failing("the restore", exc) from None


def _revealed(answer: dict[str, Any]) -> str:
    value = str(answer["SecretString"])
    debug_log.secret(value)  # bound for an app's definition: never in the debug log
    return value


def status(run: Run, id: str) -> dict[str, Any]:
    try:
        return logic.status(run.aws.client("s3"), _bucket(run), id)
    except (logic.SnapshotError, ClientError) as exc:
        raise _failing("reading the restore's record", exc) from None
