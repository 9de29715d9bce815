"""The state document, its local store and the env's lock.

State is data only: format, env, lineage (fixed at birth), serial (+1 on every save), the
recorded resources, pending intents, outputs. Saves are atomic (temp file, fsync, rename)
and keep the previous version as a backup; a file that is corrupt, foreign or newer than
this ngp is refused and never overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ngp.errors import LockError, Quit, StateError

FORMAT = 1


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Recorded:
    """A resource ngp made (or adopted): its kind, id, the spec last applied, its outputs,
    and what it depended on, which orders its deletion even after it left the config.

    Never changed in place: a change records a new one (the state file's line for it is
    encoded once, see State.to_json)."""

    kind: str
    id: str
    spec: dict[str, Any]
    outputs: dict[str, Any]
    deps: list[str] = field(default_factory=list)
    module: str = ""


@dataclass
class Pending:
    """An intent saved before a mutating call, so a run killed mid-call is understood.

    For a create, spec is the resolved spec that find() needs to look the object up."""

    op: str  # "create" | "delete"
    kind: str
    since: str
    spec: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    deps: list[str] = field(default_factory=list)
    module: str = ""


@dataclass
class State:
    env: str
    lineage: str = field(default_factory=lambda: str(uuid.uuid4()))
    serial: int = 0
    resources: dict[str, Recorded] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    # Each resource's encoded line, by address, with the Recorded it encodes: a save encodes
    # only what changed since the last one.
    _lines: dict[str, tuple[Recorded, str]] = field(default_factory=dict, repr=False,
                                                     compare=False)

    def to_json(self, serial: int | None = None) -> bytes:
        """The state file: its head first (format, env, lineage, serial), then one line per
        resource, so a diff shows what changed and a 10,000-resource state writes in a
        fraction of a second (compact lines take json's C encoder; indent does not, and a
        resource's line is encoded again only when it was recorded again)."""
        head = ",\n".join(f" {_encode(k)}: {_encode(v)}" for k, v in (
            ("format", FORMAT), ("env", self.env), ("lineage", self.lineage),
            ("serial", self.serial if serial is None else serial)))
        lines = {}
        for address in sorted(self.resources):  # keys, not items: no tuple per resource
            rec = self.resources[address]
            cached = self._lines.get(address)
            if cached is None or cached[0] is not rec:
                cached = (rec, f"  {_encode(address)}: {_encode(vars(rec))}")
            lines[address] = cached
        self._lines = lines
        resources = [line for _, line in lines.values()]
        pending = [f"  {_encode(a)}: {_encode(vars(p))}" for a, p in sorted(self.pending.items())]
        outputs = [f"  {_encode(k)}: {_encode(v)}" for k, v in self.outputs.items()]
        return (f"{{\n{head},\n{_block('resources', resources)},\n"
                f"{_block('pending', pending)},\n{_block('outputs', outputs)}\n}}\n").encode()

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> State:
        return cls(
            env=doc["env"],
            lineage=doc["lineage"],
            serial=int(doc["serial"]),
            resources={a: Recorded(**r) for a, r in doc.get("resources", {}).items()},
            pending={a: Pending(**p) for a, p in doc.get("pending", {}).items()},
            outputs=dict(doc.get("outputs", {})),
        )


_encode = json.JSONEncoder(separators=(",", ":")).encode  # made once: json.dumps makes one a call


def _block(name: str, lines: list[str]) -> str:
    return f' "{name}": {{\n' + ",\n".join(lines) + "\n }" if lines else f' "{name}": {{}}'


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class Store:
    """What every state store does on top of its own `write`."""

    def write(self, data: bytes, serial: int) -> None:
        raise NotImplementedError

    def save(self, state: State) -> None:
        """Write state as serial + 1 (atomically, and never over another writer's version)."""
        self.write(state.to_json(state.serial + 1), state.serial + 1)
        state.serial += 1


@contextlib.contextmanager
def lock_waiting(take: Callable[[], contextlib.AbstractContextManager[None]], timeout: float,
                 on_wait: Callable[[str], None] | None = None,
                 poll: float = 0.5) -> Iterator[None]:
    """Hold the lock `take()` gives (a store's `lock(...)`) for the block; while another run
    holds it, try again every `poll` seconds for up to `timeout` seconds (0: fail at once),
    then raise the holder's LockError as a first try would have."""
    deadline = time.monotonic() + timeout
    with contextlib.ExitStack() as held:
        while True:
            try:
                held.enter_context(take())
                break
            except LockError as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                if on_wait is not None:
                    on_wait(f"{exc.summary}; waiting up to {timeout:g}s for it (--lock-timeout)")
                    on_wait = None  # said once
                time.sleep(min(poll, left))
        yield


class LocalStore(Store):
    """state/<env>.json on the local disk, with state/<env>.json.backup and state/<env>.lock."""

    def __init__(self, state_dir: Path, env: str) -> None:
        self.env = env
        self.path = state_dir / f"{env}.json"
        self.where = str(self.path)
        self.backup_path = state_dir / f"{env}.json.backup"
        self.lock_path = state_dir / f"{env}.lock"
        self._written: tuple[int, int, int] | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> State:
        """The env's state, or a new one if it has none yet."""
        self._written = _fingerprint(self.path)
        if self._written is None:
            return State(env=self.env)
        state = parse_state(self.path.read_bytes(), str(self.path), self.env)
        kept = _lineage_of(self.backup_path)
        if kept is not None and kept != state.lineage:
            raise StateError(
                f"{self.path} has lineage {state.lineage}, but its backup has lineage {kept}: "
                "it was replaced by the state of another deployment",
                hint=f"If {self.path.name} is the right one, delete {self.backup_path}; if not, "
                f"copy the backup over it. Both are left as they are.")
        return state

    def write(self, data: bytes, serial: int) -> None:
        """Write an encoded state (State.to_json) as version `serial`, atomically, keeping
        the previous version as backup.

        Refuses (and writes nothing over it) if the file changed since we read or wrote it:
        two writers must never silently overwrite each other."""
        if _fingerprint(self.path) != self._written:
            rescue = self.path.with_name(f"{self.path.name}.rescue-{serial}")
            self._write(rescue, data)
            raise StateError(
                f"{self.path} was changed by another program during this run; not overwriting it",
                hint=f"This run's state is in {rescue}: compare the two and keep the right one.",
            )
        self._write(self.path, data, backup=True)
        self._written = _fingerprint(self.path)

    def write_exact(self, state: State) -> None:
        """Write state with its own serial (`ngp state pull`)."""
        self._write(self.path, state.to_json(), backup=True)
        self._written = _fingerprint(self.path)

    def _write(self, path: Path, data: bytes, backup: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)  # the state names every object of the env: owner only
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if backup and not path.exists() and self.backup_path.exists():
            # A new state where an old one was deleted: keep the old backup, by its lineage.
            old = _lineage_of(self.backup_path) or "unknown"
            os.replace(self.backup_path, self.backup_path.with_name(
                f"{self.backup_path.name}-{old}"))
        if backup and path.exists():
            # A hard link keeps the previous version at no copying cost.
            link = path.with_name(f".{path.name}.{os.getpid()}.bak")
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            os.link(path, link)
            os.replace(link, self.backup_path)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def lock(self, command: str, warn: Callable[[str], None]) -> Iterator[None]:
        """Hold the env's lock for the block. The kernel releases it if we die, so a lock
        whose holder is gone never blocks; its note is replaced with a warning."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockError(
                f"env {self.env!r} is locked by {describe_holder(holder)}",
                hint="Wait for that run to finish; if it is stuck, stop it, or run "
                f"`ngp state unlock --env {self.env}`.",
            ) from None
        release = True
        try:
            previous = _read_holder(fd)
            if previous:
                warn(f"took over the lock of {describe_holder(previous)}: that run is gone")
            note = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                    "since": now(), "user": os.environ.get("USER", "")}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(note).encode(), 0)
            os.fsync(fd)
            yield
        except Quit as quit:
            # Quitting at once with a state write that may still land: the lock goes with the
            # process (a moment later), not before.
            release = quit.saves_stopped
            raise
        finally:
            if release:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def holder(self) -> tuple[dict[str, Any] | None, bool]:
        """The lock's note and whether a live process holds it."""
        if not self.lock_path.exists():
            return None, False
        fd = os.open(self.lock_path, os.O_RDWR)
        try:
            note = _read_holder(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return note, True
            fcntl.flock(fd, fcntl.LOCK_UN)
            return note, False
        finally:
            os.close(fd)

    def unlock(self) -> dict[str, Any] | None:
        """Break the lock: whoever holds it, the next run may proceed. Returns the note."""
        note, _ = self.holder()
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        return note


def _lineage_of(path: Path) -> str | None:
    """The lineage of a state file, read from its head (it is written near the top)."""
    try:
        with open(path, "rb") as file:
            head = file.read(1024)
    except FileNotFoundError:
        return None
    found = re.search(rb'"lineage":\s*"([^"]+)"', head)
    return found.group(1).decode() if found else None


def _read_holder(fd: int) -> dict[str, Any] | None:
    raw = os.pread(fd, 4096, 0)
    if not raw.strip():
        return None
    try:
        note = json.loads(raw)
    except ValueError:
        return {"note": raw[:80].decode(errors="replace")}
    return note if isinstance(note, dict) else None


def describe_holder(note: dict[str, Any] | None) -> str:
    if not note:
        return "an unknown run"
    if "pid" not in note:
        return f"an unreadable note ({note.get('note', '')!r})"
    who = f"{note.get('user')}@" if note.get("user") else ""
    return (f"`ngp {note.get('command', '?')}` (pid {note['pid']} on {who}{note.get('host', '?')}, "
            f"since {note.get('since', '?')})")


def parse_state(raw: bytes, where: str, env: str) -> State:
    """Parse and check a state document; anything wrong is a StateError naming the file."""
    backup = f"{where}.backup"
    hint = (f"The file is left as it is. The previous version is in {backup}: "
            f"if it is right, copy it over {where}.")
    try:
        doc, lines = _read_layout(raw)
    except ValueError as exc:
        raise StateError(f"{where} is not valid JSON ({exc})", hint=hint) from None
    if not isinstance(doc, dict) or not {"format", "env", "lineage", "serial"} <= doc.keys():
        raise StateError(f"{where} is not an ngp state file", hint=hint)
    if not isinstance(doc["format"], int) or doc["format"] > FORMAT:
        raise StateError(
            f"{where} has format {doc['format']!r}, newer than this ngp reads ({FORMAT})",
            hint="Upgrade ngp; the file is left as it is.",
        )
    if doc["env"] != env:
        raise StateError(
            f"{where} belongs to env {doc['env']!r}, not {env!r}",
            hint="Put it back where it came from; the file is left as it is.",
        )
    try:
        state = State.from_dict(doc)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise StateError(f"{where} is damaged ({exc})", hint=hint) from None
    _check_kinds(state, where, hint)
    state._lines = {address: (rec, line) for address, rec in state.resources.items()
                    if (line := lines.get(address)) is not None}
    return state


def _check_kinds(state: State, where: str, hint: str) -> None:
    """Every recorded (and pending) kind is one this ngp has: else one line naming the file
    and the address, before any command acts on the state."""
    # Imported here: the kinds' package imports ngp.state (marathon.ready reads a State).
    from ngp.resources import get_kind

    kinds = [(a, r.kind) for a, r in state.resources.items()]
    kinds += [(a, p.kind) for a, p in state.pending.items()]
    for address, kind in kinds:
        get_kind(kind, where=f"{where}: {address}",
                 hint="This state was written by a newer ngp, or edited by hand: upgrade "
                 f"ngp, or fix the resource's kind. {hint}")


_RESOURCES, _END = '\n "resources": {\n', "\n },\n"
_decoder = json.JSONDecoder()


def _read_layout(raw: bytes) -> tuple[Any, dict[str, str]]:
    """A state file, and each resource's line where it is laid out as to_json writes it (one
    resource a line; each line parsed alone and kept, so a save writes the lines of what did
    not change as they were read, not encoded again). Any other layout is parsed whole."""
    text = raw.decode()
    start = text.find(_RESOURCES)
    end = text.find(_END, start)
    if start < 0 or end < 0:
        return json.loads(text), {}
    resources, lines = {}, {}
    try:
        for line in text[start + len(_RESOURCES):end].split("\n"):
            member = line.removesuffix(",")
            address, i = _decoder.raw_decode(member, 2)
            if member[:2] != "  " or member[i:i + 2] != ": ":
                raise ValueError("not one resource a line")
            value, j = _decoder.raw_decode(member, i + 2)
            if j != len(member):
                raise ValueError("not one resource a line")
            resources[address], lines[address] = value, member
        doc = json.loads(text[:start] + '\n "resources": {}' + text[end + 3:])
    except ValueError:
        return json.loads(text), {}
    if not isinstance(doc, dict):  # e.g. a list holding such an object: not a state file
        return doc, {}
    doc["resources"] = resources
    return doc, lines
