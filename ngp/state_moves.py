"""Moving a state between stores and versions (`ngp state push`, `pull`, `restore`,
`unlock`), and addresses within it (`ngp state rm`, `mv`).

The rules, in one place: a state keeps its lineage and serial when it moves; a move never
replaces a state of another lineage or a newer one, and a restore never brings back another
lineage's version, unless forced; a restored version is written as the next serial, so every
run that read the current one sees that it moved on. A lock a live run holds is broken only
when forced. Each refusal is a StateError or LockError naming the store it concerns.

An edit of the addresses (rm, mv) is made under the env's lock and saved as the next serial,
keeping the lineage; it never calls AWS. rm forgets objects (they stay in AWS) and refuses
to forget one that a resource staying in the state depends on, unless forced; mv renames,
never onto an address the state holds, nor onto one the graph wants as another kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from ngp.errors import LockError, StateError
from ngp.graph import matches
from ngp.state import State, describe_holder, lock_waiting
from ngp.state_s3 import S3Store

Warn = Callable[[str], None]
T = TypeVar("T")


class Movable(Protocol):
    """What a move needs of a store (LocalStore and S3Store both are one)."""

    where: str

    def exists(self) -> bool: ...
    def load(self) -> State: ...
    def write_exact(self, state: State) -> None: ...


class Lockable(Protocol):
    def holder(self) -> tuple[dict[str, Any] | None, bool]: ...
    def unlock(self) -> dict[str, Any] | None: ...


class Editable(Protocol):
    """What an edit of the addresses needs of a store (LocalStore and S3Store both are one)."""

    where: str

    def exists(self) -> bool: ...
    def load(self) -> State: ...
    def save(self, state: State) -> None: ...
    def lock(self, command: str, warn: Warn) -> Any: ...


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


def edit(store: Editable, command: str, change: Callable[[State], T], *, lock_timeout: float,
         warn: Warn) -> T:
    """Apply change to the env's state under its lock and save it as the next serial."""
    with lock_waiting(lambda: store.lock(command, warn), lock_timeout, warn):
        state = store.load()
        if not store.exists():
            raise StateError("the env has no state yet", where=store.where,
                             hint="`ngp up` makes it.")
        result = change(state)
        store.save(state)
    return result


def _matching(state: State, pattern: str) -> list[str]:
    return sorted(a for a in state.resources if matches(a, pattern))


def _not_pending(state: State, addresses: list[str], where: str) -> None:
    for address in addresses:
        if address in state.pending:
            raise StateError(f"{address} has an interrupted {state.pending[address].op}",
                             where=where, hint="Run `ngp up` (or `ngp plan`) first: it settles "
                             "what the interrupted run left.")


def remove(state: State, patterns: list[str], *, force: bool, where: str) -> list[str]:
    """Forget the addresses (each an address, or a module or prefix, as --target takes);
    the objects stay in AWS. Refused, unless force, while a resource that stays in the state
    depends on one of them (ngp would no longer order its deletion after theirs)."""
    hits: set[str] = set()
    for pattern in patterns:
        found = _matching(state, pattern)
        if not found:
            raise StateError(f"{pattern!r} matches nothing in the state", where=where,
                             hint="See `ngp state list`.")
        hits.update(found)
    gone = sorted(hits)
    _not_pending(state, gone, where)
    users = sorted((a, d) for a, r in state.resources.items() if a not in hits
                   for d in r.deps if d in hits)
    if users and not force:
        user, used = users[0]
        more = f" (and {len(users) - 1} more)" if len(users) > 1 else ""
        raise StateError(f"{user} depends on {used}{more} and stays in the state", where=where,
                         hint=f"Remove {user} too, or pass --force (its deletion is then no "
                         f"longer ordered after {used}'s).")
    for address in gone:
        del state.resources[address]
    return gone


def _retagged(rec: Any, old: str, new: str, state: State) -> dict[str, Any]:
    """A moved object's spec, marked (as an imported one is) with the ngp tags it carries,
    so the next `up` rewrites them to name its new address, where ngp can retag the kind
    (Importable: every kind that carries tags); others (a Marathon app's labels) keep naming
    the old address, which the refresh accepts while the state records no other object
    there. Moved back, the mark goes."""
    from ngp.resources import get_kind
    from ngp.resources.base import NGP_TAGS, TAG_ADDRESS, TAG_ENV, TAG_LINEAGE, Importable

    if not isinstance(get_kind(rec.kind), Importable):
        return dict(rec.spec)
    def tags(address: str) -> dict[str, str]:
        return {TAG_ENV: state.env, TAG_ADDRESS: address, TAG_LINEAGE: state.lineage}
    spec = {**rec.spec, NGP_TAGS: rec.spec.get(NGP_TAGS, tags(old))}
    if spec[NGP_TAGS] == tags(new):
        del spec[NGP_TAGS]
    return spec


def rename(state: State, source: str, target: str, kinds: Mapping[str, tuple[str, str]], *,
           where: str) -> list[tuple[str, str]]:
    """Rename source to target: one address, or every address under a module or prefix
    (`network` to `net`: `network.vpc` to `net.vpc`). kinds: the graph's (kind, module) by
    address. Refused when a new address is in the state already, or the graph wants it as
    another kind. What depends on a moved address is pointed at its new one."""
    if source in state.resources:
        moves = [(source, target)]
    else:
        moves = [(a, target + a[len(source):]) for a in _matching(state, source)]
    if not moves:
        raise StateError(f"{source!r} matches nothing in the state", where=where,
                         hint="See `ngp state list`.")
    _not_pending(state, [a for a, _ in moves], where)
    moving = {a for a, _ in moves}
    for old, new in moves:
        if new == old:
            raise StateError(f"{old} is already at {new}", where=where)
        if (new in state.resources and new not in moving) or new in state.pending:
            raise StateError(f"{new} is in the state already", where=where,
                             hint=f"`ngp state rm {new}` forgets it first (the object stays).")
        rec = state.resources[old]
        if new in kinds and kinds[new][0] != rec.kind:
            raise StateError(f"{new} is a {kinds[new][0]} in the env's graph; {old} is a "
                             f"{rec.kind}", where=where,
                             hint="Move it to an address of its own kind.")
    renamed = dict(moves)
    records = {old: state.resources.pop(old) for old, _ in moves}
    for old, new in moves:
        rec = records[old]
        module = kinds[new][1] if new in kinds else \
            target if source == rec.module else rec.module
        state.resources[new] = dataclasses.replace(rec, module=module,
                                                   spec=_retagged(rec, old, new, state))
    for address, rec in state.resources.items():
        if any(d in renamed for d in rec.deps):
            state.resources[address] = dataclasses.replace(
                rec, deps=[renamed.get(d, d) for d in rec.deps])
    return moves
