"""The S3 state's lock lease, in S3 and in DynamoDB, against the strict sandbox's AWS: a held
lock is renewed before it ends, so a long run keeps it; a lock broken and taken by another
run stops this one from saving (its state goes to a rescue file), and it leaves the other's
lock alone."""

from __future__ import annotations

import json
import time

import pytest

from ngp.errors import LockError
from ngp.state import State, lock_waiting
from ngp.state_s3 import DynamoLock, S3Lock, S3Store

BUCKET, KEY, TABLE = "ngp-state-lease", "ngp/t.json", "ngp-locks-lease"
LEASE = 1.2  # seconds; renewed every third of it


@pytest.fixture(params=["s3", "dynamodb"])
def stores(request, aws, tmp_path):
    """Two runs' stores of one env (each as a separate `ngp` would make it)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    if request.param == "dynamodb":
        db = aws.client("dynamodb")
        db.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}])

    def store(lease: float, rescue: str) -> S3Store:
        lock = DynamoLock(aws.client("dynamodb"), TABLE, KEY) if request.param == "dynamodb" \
            else S3Lock(s3, BUCKET, f"{KEY}.lock")
        return S3Store(s3, BUCKET, KEY, "t", lock=lock, lease_seconds=lease,
                       rescue_dir=tmp_path / rescue)

    return store(LEASE, "mine"), store(60, "theirs")


def encoded(serial: int, marker: str) -> bytes:
    return State(env="t", lineage="l", serial=serial, outputs={"by": marker}).to_json()


def test_a_long_run_keeps_its_lock_past_many_leases(stores):
    mine, theirs = stores
    warned: list[str] = []
    with mine.lock("up", warned.append):
        mine.load()
        mine.write(encoded(1, "mine"), 1)
        time.sleep(LEASE * 3)  # three leases: without renewal it would have ended twice
        note, live = mine.holder()
        assert live and note["command"] == "up"
        with pytest.raises(LockError, match="locked by"), theirs.lock("plan", warned.append):
            pass
        mine.write(encoded(2, "mine"), 2)  # still ours to write
    assert mine.holder() == (None, False)  # released at the end
    assert warned == []


def test_a_lock_taken_over_stops_the_run_saving_and_is_left_to_its_new_holder(stores):
    mine, theirs = stores
    warned: list[str] = []
    taken, theirs_held = theirs.lock("take-over", warned.append), False
    try:
        with mine.lock("up", warned.append):
            mine.load()
            mine.write(encoded(1, "mine"), 1)
            theirs.unlock()  # `ngp state unlock --force` elsewhere, then a run of its own
            taken.__enter__()
            theirs_held = True
            time.sleep(LEASE * 2 / 3 + 0.3)  # past this run's next renewal
            with pytest.raises(LockError, match="lost the env's lock") as lost:
                mine.write(encoded(2, "mine"), 2)
            assert str(mine.rescue_dir) in lost.value.hint
            rescued = json.loads((mine.rescue_dir / "t.json.rescue-2").read_bytes())
            assert rescued["outputs"] == {"by": "mine"}
        # This run's end released nothing: the lock is the other run's, and so is the state.
        note, live = theirs.holder()
        assert live and note["command"] == "take-over"
        assert theirs.load().serial == 1
        theirs.write(encoded(2, "theirs"), 2)
    finally:
        if theirs_held:
            taken.__exit__(None, None, None)
    assert theirs.holder() == (None, False)


def test_lock_timeout_waits_for_the_s3_or_dynamodb_lock_too(stores):
    mine, theirs = stores
    said: list[str] = []
    with mine.lock("up", said.append):
        t0 = time.monotonic()
        with pytest.raises(LockError, match="locked by `ngp up`"), \
                lock_waiting(lambda: theirs.lock("plan", said.append), 0.8, said.append,
                             poll=0.2):
            pass
        assert time.monotonic() - t0 >= 0.8
    assert len(said) == 1 and "waiting up to 0.8s" in said[0]
    with lock_waiting(lambda: theirs.lock("plan", said.append), 5):  # released: taken at once
        assert theirs.holder()[0]["command"] == "plan"
