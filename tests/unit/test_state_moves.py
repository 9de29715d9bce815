"""The rules of `ngp state push`, `pull`, `restore` and `unlock` (ngp/state_moves.py), on the
local store and on S3 (the strict sandbox's, in this process): lineage and serial kept, and
what is refused without --force."""

from __future__ import annotations

import json

import pytest

from ngp import state_moves
from ngp.errors import LockError, StateError
from ngp.state import LocalStore, Recorded, State
from ngp.state_s3 import S3Lock, S3Store

BUCKET, KEY = "acme-ngp-state-moves", "ngp/dev.json"


def saved(store, n=1, state: State | None = None) -> State:
    """The store's state after n saves, each recording one more resource."""
    state = state or store.load()
    for _ in range(n):
        i = len(state.resources)
        state.resources[f"n.r{i}"] = Recorded("ec2.vpc", f"vpc-{i}", {}, {"id": f"vpc-{i}"})
        store.save(state)
    return state


@pytest.fixture
def local(tmp_path):
    return LocalStore(tmp_path / "state", "dev")


@pytest.fixture
def other(tmp_path):
    """A second local store of the same env, as another machine's."""
    return LocalStore(tmp_path / "elsewhere", "dev")


@pytest.fixture
def s3(aws):
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def remote(s3, tmp_path):
    return S3Store(s3, BUCKET, KEY, "dev", lock=S3Lock(s3, BUCKET, f"{KEY}.lock"),
                   lease_seconds=30, rescue_dir=tmp_path / "rescue")


def head(path) -> tuple[str, int]:
    doc = json.loads(path.read_text())
    return doc["lineage"], doc["serial"]


# -- move: the rule push and pull share ---------------------------------------------------

def test_a_move_keeps_lineage_and_serial(local, other):
    state = saved(local, 3)
    moved = state_moves.move(local, other, "push", force=False)
    assert (moved.lineage, moved.serial) == (state.lineage, 3)
    assert head(other.path) == (state.lineage, 3)
    assert other.load().resources == state.resources


def test_a_move_onto_an_older_serial_of_the_same_lineage_proceeds(local, other):
    state = saved(local, 1)
    state_moves.move(local, other, "push", force=False)
    saved(local, 2, state)
    state_moves.move(local, other, "push", force=False)
    assert head(other.path) == (state.lineage, 3)


def test_a_move_onto_another_lineage_is_refused_and_leaves_it(local, other):
    saved(local, 2)
    theirs = saved(other, 1)
    before = other.path.read_bytes()
    with pytest.raises(StateError, match="another lineage") as refused:
        state_moves.move(local, other, "push", force=False)
    assert refused.value.where == str(other.path)
    assert "--force" in refused.value.hint
    assert other.path.read_bytes() == before and theirs.lineage == head(other.path)[0]


def test_a_move_onto_a_newer_serial_is_refused(local, other):
    state = saved(local, 1)
    state_moves.move(local, other, "pull", force=False)
    saved(other, 2, other.load())  # the target moved on: serial 3 > 1
    with pytest.raises(StateError, match=r"newer \(serial 3 > 1\)") as refused:
        state_moves.move(local, other, "pull", force=False)
    assert refused.value.where == str(other.path)
    assert head(other.path) == (state.lineage, 3)


def test_force_replaces_another_lineage_and_a_newer_serial(local, other):
    mine = saved(local, 1)
    saved(other, 4)
    state_moves.move(local, other, "push", force=True)
    assert head(other.path) == (mine.lineage, 1)


def test_nothing_to_move_is_refused_and_the_target_is_left(local, other):
    saved(other, 1)
    before = other.path.read_bytes()
    with pytest.raises(StateError, match="no state to push") as refused:
        state_moves.move(local, other, "push", force=False)
    assert refused.value.where == str(local.path)
    assert other.path.read_bytes() == before


# -- push and pull between state/<env>.json and S3 -----------------------------------------

def test_push_then_pull_round_trips_through_s3_and_releases_the_lock(local, other, remote):
    state = saved(local, 2)
    pushed = state_moves.push(local, remote, force=False, warn=pytest.fail)
    assert (pushed.lineage, pushed.serial) == (state.lineage, 2)
    assert remote.holder() == (None, False), "the lock is released after the push"
    pulled = state_moves.pull(remote, other, force=False)
    assert head(other.path) == (state.lineage, 2) == (pulled.lineage, pulled.serial)


def test_push_over_another_lineage_in_s3_is_refused_unless_forced(local, remote):
    saved(remote, 3)  # the team's state
    mine = saved(local, 1)
    with pytest.raises(StateError, match="another lineage") as refused:
        state_moves.push(local, remote, force=False, warn=pytest.fail)
    assert refused.value.where == remote.where
    assert remote.load().serial == 3
    state_moves.push(local, remote, force=True, warn=pytest.fail)
    assert (remote.load().lineage, remote.load().serial) == (mine.lineage, 1)


def test_push_while_another_run_holds_the_lock_is_refused(local, remote):
    saved(local, 1)
    with remote.lock("up", pytest.fail), pytest.raises(LockError, match="locked by `ngp up`"):
        state_moves.push(local, remote, force=False, warn=pytest.fail)
    assert not remote.exists()


def test_pull_over_a_newer_local_state_is_refused(local, remote):
    state = saved(remote, 1)
    state_moves.pull(remote, local, force=False)
    saved(local, 1, local.load())  # serial 2 here, 1 in S3
    with pytest.raises(StateError, match=r"newer \(serial 2 > 1\)"):
        state_moves.pull(remote, local, force=False)
    assert head(local.path) == (state.lineage, 2)


def test_a_local_env_has_no_versions(local):
    with pytest.raises(StateError, match="keeps its state in state/dev.json") as refused:
        state_moves.versioned(local, "dev")
    assert refused.value.where == "dev.toml: [state] backend"


# -- restore -------------------------------------------------------------------------------

def versions(remote) -> dict[int, str]:
    return {v["serial"]: v["version"] for v in remote.history()}


def test_restore_makes_an_old_version_current_as_the_next_serial(remote):
    state = saved(remote, 3)
    restored = state_moves.restore(remote, versions(remote)[1], force=False, warn=pytest.fail)
    assert (restored.lineage, restored.serial) == (state.lineage, 4)
    current = remote.load()
    assert current.serial == 4 and list(current.resources) == ["n.r0"]
    assert sorted(versions(remote)) == [1, 2, 3, 4], "nothing is lost"
    assert remote.holder() == (None, False)


def test_restore_of_another_lineage_is_refused_unless_forced(remote, s3, tmp_path):
    saved(remote, 1)
    old = versions(remote)[1]
    s3.delete_object(Bucket=BUCKET, Key=KEY)  # start over: a new lineage...
    fresh = S3Store(s3, BUCKET, KEY, "dev", lock=S3Lock(s3, BUCKET, f"{KEY}.lock"),
                    lease_seconds=30, rescue_dir=tmp_path / "rescue")
    new = saved(fresh, 2)
    with pytest.raises(StateError, match=f"version {old} has lineage") as refused:
        state_moves.restore(fresh, old, force=False, warn=pytest.fail)
    assert refused.value.where == fresh.where and "--force" in refused.value.hint
    assert (fresh.load().lineage, fresh.load().serial) == (new.lineage, 2)
    restored = state_moves.restore(fresh, old, force=True, warn=pytest.fail)
    assert restored.lineage != new.lineage and fresh.load().serial == 3


def test_restore_of_an_unknown_version_is_one_clear_error(remote):
    saved(remote, 1)
    with pytest.raises(StateError, match="has no version 'nope'"):
        state_moves.restore(remote, "nope", force=False, warn=pytest.fail)


# -- unlock --------------------------------------------------------------------------------

def test_unlock_of_an_unlocked_env_says_so(local):
    assert state_moves.break_lock(local, "dev", force=False) is None


def test_a_lock_a_live_run_holds_is_broken_only_with_force(local):
    with local.lock("up", pytest.fail):
        with pytest.raises(LockError, match="which is running") as refused:
            state_moves.break_lock(local, "dev", force=False)
        assert "--force" in refused.value.hint
        assert local.holder()[1], "still held"
        holder = state_moves.break_lock(local, "dev", force=True)
    assert holder is not None and holder.startswith("`ngp up` (pid ")
    assert not local.lock_path.exists()


def test_a_lock_left_by_a_dead_run_is_broken_without_force(remote):
    remote.s3.put_object(Bucket=BUCKET, Key=f"{KEY}.lock", Body=json.dumps(
        {"token": "x", "pid": 4242, "host": "laptop", "command": "up", "expires": 0}).encode())
    holder = state_moves.break_lock(remote, "dev", force=False)
    assert holder is not None and "pid 4242 on laptop" in holder
    assert remote.holder() == (None, False)
