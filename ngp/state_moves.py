"""Moving a state between stores and versions: `ngp state push`, `pull`, `restore`, `unlock`.

The rules, in one place: a state keeps its lineage and serial when it moves; a move never
replaces a state of another lineage or a newer one, and a restore never brings back another
lineage's version, unless forced; a restored version is written as the next serial, so every
run that read the current one sees that it moved on. A lock a live run holds is broken only
when forced. Each refusal is a StateError or LockError naming the store it concerns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ngp.errors import LockError, StateError
from ngp.state import State, describe_holder
from ngp.state_s3 import S3Store

Warn = Callable[[str], None]


class Movable(Protocol):
    """What a move needs of a store (LocalStore and S3Store both are one)."""

    where: str

    def exists(self) -> bool: ...
    def load(self) -> State: ...
    def write_exact(self, state: State) -> None: ...


class Lockable(Protocol):
    def holder(self) -> tuple[dict[str, Any] | None, bool]: ...
    def unlock(self) -> dict[str, Any] | None: ...


def versioned(store: object, env: str) -> S3Store:
    """The env's store if it keeps versions (S3); a local env is told how to get them."""
    if not isinstance(store, S3Store):
        raise StateError(f"env {env!r} keeps its state in state/{env}.json",
                         where=f"{env}.toml: [state] backend",
                         hint='Set backend = "s3" and bucket to share it (README, State).')
    return store


def move(source: Movable, target: Movable, what: str, *, force: bool) -> State:
    """Copy source's state over target's with its own lineage and serial; returns it.

    Refused, unless force: nothing to move; a target of another lineage; a target whose
    serial is higher (it has seen writes this state has not)."""
    state = source.load()
    if not source.exists():
        raise StateError(f"there is no state to {what}", where=source.where)
    there = target.load()  # also remembers what the target held, for a conditional write
    if target.exists() and not force:
        if there.lineage != state.lineage:
            raise StateError(f"the {what} target holds another lineage ({there.lineage}, "
                             f"not {state.lineage})", where=target.where,
                             hint="Pass --force to replace it.")
        if there.serial > state.serial:
            raise StateError(f"the {what} target is newer (serial {there.serial} > "
                             f"{state.serial})", where=target.where,
                             hint="Pass --force to replace it.")
    target.write_exact(state)
    return state


def push(local: Movable, remote: S3Store, *, force: bool, warn: Warn) -> State:
    """state/<env>.json to the env's S3 state, under the S3 lock (runs read it there)."""
    with remote.lock("state push", warn):
        return move(local, remote, "push", force=force)


def pull(remote: S3Store, local: Movable, *, force: bool) -> State:
    """The env's S3 state to state/<env>.json."""
    return move(remote, local, "pull", force=force)


def restore(store: S3Store, version: str, *, force: bool, warn: Warn) -> State:
    """Make an earlier version the current state, written as the next serial (a new
    version: nothing is lost). Refused across lineages unless force."""
    with store.lock("state restore", warn):
        current = store.load()
        old = store.version(version)
        if store.exists() and old.lineage != current.lineage and not force:
            raise StateError(f"version {version} has lineage {old.lineage}, the current "
                             f"state {current.lineage}", where=store.where,
                             hint="Pass --force if that is what you want.")
        old.serial = current.serial + 1
        store.write_exact(old)
    return old


def break_lock(store: Lockable, env: str, *, force: bool) -> str | None:
    """Break the env's lock; who held it, or None if it was not locked. A lock whose holder
    still runs is broken only with force."""
    note, alive = store.holder()
    if note is None and not alive:
        return None
    if alive and not force:
        raise LockError(f"env {env!r} is locked by {describe_holder(note)}, which is running",
                        hint="Let it finish or stop it; --force breaks the lock anyway.")
    store.unlock()
    return describe_holder(note)
