"""Team state in S3: one object per env, written only if nobody wrote it since we read it
(If-Match on its ETag), every version kept by the bucket; a lock with a lease that the running
command renews, held in S3 (If-None-Match) or DynamoDB (a conditional put)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code, error_message
from ngp.errors import LockError, Quit, StateError
from ngp.state import State, Store, describe_holder, now, parse_state

CONFLICT = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
MISSING = frozenset({"NoSuchKey", "404"})
TOKEN_NAME = {"#token": "Token"}  # a reserved word in DynamoDB expressions
QUIT_RELEASE_SECONDS = 0.5  # what quitting at once may spend releasing the lock


def _note(command: str, lease: float) -> dict[str, Any]:
    return {"token": uuid.uuid4().hex, "pid": os.getpid(), "host": socket.gethostname(),
            "user": os.environ.get("USER", ""), "command": command, "since": now(),
            "expires": time.time() + lease}


def _expired(note: dict[str, Any]) -> bool:
    return float(note.get("expires", 0)) < time.time()


def _within(seconds: float, call: Callable[[], None]) -> bool:
    """Whether call ended, without error, within seconds (else it is left to finish alone)."""
    done = threading.Event()

    def run() -> None:
        call()
        done.set()

    threading.Thread(target=run, name="ngp-lock-release", daemon=True).start()
    return done.wait(seconds)


class S3Lock:
    """The lock as an object next to the state: created only if absent (If-None-Match: *),
    renewed and released only by its holder (If-Match on the ETag it got)."""

    def __init__(self, s3: Any, bucket: str, key: str) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.where = f"s3://{bucket}/{key}"

    def read(self) -> tuple[dict[str, Any] | None, str | None]:
        try:
            got = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if error_code(exc) in MISSING:
                return None, None
            raise
        try:
            return json.loads(got["Body"].read()), got["ETag"]
        except ValueError:
            return {"note": "unreadable"}, got["ETag"]

    def _put(self, note: dict[str, Any], **condition: str) -> str:
        return self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=json.dumps(note).encode(),
                                  ContentType="application/json", **condition)["ETag"]

    def acquire(self, note: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """Take the lock: (a handle, the expired note taken over or None)."""
        try:
            return self._put(note, IfNoneMatch="*"), None
        except ClientError as exc:
            if error_code(exc) not in CONFLICT:
                raise
        held, etag = self.read()
        if held is None or etag is None:  # released between our two calls: once more
            return self.acquire(note)
        if not _expired(held):
            raise LockError(f"env is locked by {describe_holder(held)} ({self.where})")
        try:
            return self._put(note, IfMatch=etag), held
        except ClientError as exc:
            if error_code(exc) in CONFLICT:
                raise LockError(f"another run took the expired lock first ({self.where})"
                                ) from None
            raise

    def renew(self, handle: str, note: dict[str, Any]) -> str | None:
        try:
            return self._put(note, IfMatch=handle)
        except ClientError as exc:
            if error_code(exc) in CONFLICT | MISSING:
                return None  # broken or taken over: the caller stops writing
            raise

    def release(self, handle: str) -> None:
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=handle)
        except ClientError as exc:
            if error_code(exc) not in CONFLICT | MISSING:  # not taken over or broken
                raise

    def break_(self) -> dict[str, Any] | None:
        held, _ = self.read()
        self.s3.delete_object(Bucket=self.bucket, Key=self.key)
        return held


class DynamoLock:
    """The lock as an item of a DynamoDB table (partition key LockID, as Terraform's):
    put only if absent or expired, renewed and deleted only with the holder's token."""

    def __init__(self, dynamodb: Any, table: str, lock_id: str) -> None:
        self.db, self.table, self.id = dynamodb, table, lock_id
        self.where = f"dynamodb://{table}/{lock_id}"

    def read(self) -> tuple[dict[str, Any] | None, str | None]:
        item = self.db.get_item(TableName=self.table, Key={"LockID": {"S": self.id}},
                                ConsistentRead=True).get("Item")
        if not item:
            return None, None
        note = json.loads(item["Note"]["S"])
        return note, note.get("token")

    def _put(self, note: dict[str, Any], condition: str,
             values: dict[str, Any] | None = None) -> str:
        params: dict[str, Any] = {
            "TableName": self.table, "ConditionExpression": condition,
            "ExpressionAttributeNames": TOKEN_NAME,
            "Item": {"LockID": {"S": self.id}, "Note": {"S": json.dumps(note)},
                     "Token": {"S": note["token"]}, "Expires": {"N": str(note["expires"])}}}
        if values:
            params["ExpressionAttributeValues"] = values
        self.db.put_item(**params)
        return note["token"]

    def acquire(self, note: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        held, _ = self.read()
        try:
            if held is None:
                return self._put(note, "attribute_not_exists(LockID) OR #token = :none",
                                 {":none": {"S": ""}}), None
            if not _expired(held):
                raise LockError(f"env is locked by {describe_holder(held)} ({self.where})")
            return self._put(note, "#token = :seen", {":seen": {"S": held["token"]}}), held
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                held, _ = self.read()
                raise LockError(f"env is locked by {describe_holder(held)} ({self.where})"
                                ) from None
            raise

    def renew(self, handle: str, note: dict[str, Any]) -> str | None:
        try:
            return self._put({**note, "token": handle}, "#token = :mine",
                             {":mine": {"S": handle}})
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise

    def release(self, handle: str) -> None:
        try:
            self.db.delete_item(TableName=self.table, Key={"LockID": {"S": self.id}},
                                ConditionExpression="#token = :mine",
                                ExpressionAttributeNames=TOKEN_NAME,
                                ExpressionAttributeValues={":mine": {"S": handle}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # not taken over
                raise

    def break_(self) -> dict[str, Any] | None:
        held, _ = self.read()
        self.db.delete_item(TableName=self.table, Key={"LockID": {"S": self.id}})
        return held


class S3Store(Store):
    """The env's state as s3://<bucket>/<key>; the lock next to it or in DynamoDB."""

    def __init__(self, s3: Any, bucket: str, key: str, env: str, *, lock: Any,
                 lease_seconds: float, rescue_dir: Path) -> None:
        self.s3, self.bucket, self.key, self.env = s3, bucket, key, env
        self.where = f"s3://{bucket}/{key}"
        self.locker = lock
        self.lease = lease_seconds
        self.rescue_dir = rescue_dir
        self._etag: str | None = None
        self._lost: str | None = None  # why this run no longer holds the lock

    # -- the state object ----------------------------------------------------------------

    def _unusable(self, exc: ClientError) -> StateError:
        if error_code(exc) in ("NoSuchBucket", "NoSuchTable", "ResourceNotFoundException"):
            return StateError(f"the state backend of env {self.env!r} does not exist "
                              f"({error_message(exc)})",
                              hint=f"Make it with `ngp state bootstrap --env {self.env}`.")
        return StateError(f"cannot use the state at {self.where}: {error_message(exc)}",
                          hint="Check the [state] settings and your access to the bucket.")

    def _get(self, **version: str) -> dict[str, Any] | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self.key, **version)
        except ClientError as exc:
            if error_code(exc) in MISSING:
                return None
            if error_code(exc) in ("InvalidArgument", "NoSuchVersion"):
                raise
            raise self._unusable(exc) from None

    def exists(self) -> bool:
        return self._get() is not None

    def load(self) -> State:
        got = self._get()
        if got is None:
            self._etag = None
            return State(env=self.env)
        self._etag = got["ETag"]
        return parse_state(got["Body"].read(), self.where, self.env)

    def write(self, data: bytes, serial: int) -> None:
        """Write an encoded state (State.to_json) as version `serial`, only if the object is
        still the one we read."""
        if self._lost:
            self._rescue(data, serial)
            raise LockError(f"this run lost the env's lock ({self._lost}); not writing "
                            f"{self.where}", hint=f"This run's state is in {self.rescue_dir}: "
                            "compare it with `ngp state pull` and keep the right one.")
        self._put(data, serial)

    def write_exact(self, state: State) -> None:
        """Write state with its own serial (`ngp state push`, `restore`)."""
        self._put(state.to_json(), state.serial)

    def _put(self, body: bytes, serial: int) -> None:
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            self._etag = self.s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=body, ContentType="application/json",
                ServerSideEncryption="AES256", **condition)["ETag"]
        except ClientError as exc:
            if error_code(exc) not in CONFLICT:
                raise
            rescue = self._rescue(body, serial)
            raise StateError(f"{self.where} was changed by another run since this one read "
                             "it; not overwriting it",
                             hint=f"This run's state is in {rescue}: compare the two "
                             "(`ngp state history`) and keep the right one.") from None

    def _rescue(self, body: bytes, serial: int) -> Path:
        self.rescue_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        rescue = self.rescue_dir / f"{self.env}.json.rescue-{serial}"
        fd = os.open(rescue, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(body)
        return rescue

    # -- versions ------------------------------------------------------------------------

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        """The state's versions, newest first: version id, time, size, serial."""
        pages = self.s3.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=self.key)
        versions = [v for page in pages for v in page.get("Versions", [])
                    if v["Key"] == self.key]
        versions.sort(key=lambda v: v["LastModified"], reverse=True)
        found = []
        for version in versions[:limit]:
            head = self.s3.get_object(Bucket=self.bucket, Key=self.key,
                                      VersionId=version["VersionId"],
                                      Range="bytes=0-511")["Body"].read()
            serial = re.search(rb'"serial":\s*(\d+)', head)
            found.append({"version": version["VersionId"], "latest": version["IsLatest"],
                          "modified": version["LastModified"].isoformat(),
                          "size": version["Size"],
                          "serial": int(serial.group(1)) if serial else -1})
        return sorted(found, key=lambda v: (v["modified"], v["serial"]), reverse=True)

    def version(self, version_id: str) -> State:
        try:
            got = self._get(VersionId=version_id)
        except ClientError as exc:
            if error_code(exc) in ("InvalidArgument", "NoSuchVersion", "400"):
                got = None
            else:
                raise
        if got is None:
            raise StateError(f"{self.where} has no version {version_id!r}",
                             hint=f"See `ngp state history --env {self.env}`.")
        return parse_state(got["Body"].read(), f"{self.where}?versionId={version_id}",
                           self.env)

    # -- the lock ------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, command: str, warn: Callable[[str], None]) -> Iterator[None]:
        """Hold the env's lock for the block, renewing its lease every third of it."""
        note = _note(command, self.lease)
        try:
            handle, taken = self.locker.acquire(note)
        except LockError as exc:
            raise LockError(str(exc.summary), hint="Wait for that run to finish; if it is "
                            f"gone, its lease ends by itself, or run `ngp state unlock --env "
                            f"{self.env}`.") from None
        except ClientError as exc:
            raise self._unusable(exc) from None
        if taken is not None:
            warn(f"took over the expired lock of {describe_holder(taken)}")
        stop = threading.Event()

        def renew() -> None:
            nonlocal handle
            while not stop.wait(self.lease / 3):
                renewed = self.locker.renew(handle, {**note, "expires": time.time() + self.lease})
                if renewed is None:
                    self._lost = f"broken or taken over at {now()}"
                    return
                handle = renewed

        renewer = threading.Thread(target=renew, name="ngp-lock-lease", daemon=True)
        renewer.start()
        quitting: Quit | None = None
        try:
            yield
        except Quit as quit:
            quitting = quit
            raise
        finally:
            stop.set()
            if quitting is None:
                renewer.join(timeout=30)
                if not self._lost:
                    try:
                        self.locker.release(handle)
                    except ClientError as exc:
                        warn(f"could not release the lock ({error_message(exc)}); it ends with "
                             f"its lease, or run `ngp state unlock --env {self.env}`")
            else:
                # Quitting at once: the lock goes only if no state write can land any more,
                # and within a moment (a renewal under way would change its handle); else it
                # ends with its lease.
                renewer.join(timeout=QUIT_RELEASE_SECONDS)
                if not self._lost and not (
                        quitting.saves_stopped and not renewer.is_alive()
                        and _within(QUIT_RELEASE_SECONDS, lambda: self.locker.release(handle))):
                    quitting.lock = (f"the env's lock ({self.locker.where}) ends with its lease "
                                     f"within {self.lease:.0f} s, or run `ngp state unlock "
                                     f"--env {self.env}`")

    def holder(self) -> tuple[dict[str, Any] | None, bool]:
        note, _ = self.locker.read()
        return note, bool(note) and not _expired(note)

    def unlock(self) -> dict[str, Any] | None:
        return self.locker.break_()
