"""One error family. The CLI turns an NgpError into one line and its exit code (1; 130 for
Ctrl-C); anything else is a bug and keeps its traceback."""

from __future__ import annotations


class NgpError(Exception):
    """A failure the user can act on.

    summary: what is wrong; hint: what to do; where: the file and key, or the resource
    address, it concerns.
    """

    exit_code = 1

    def __init__(self, summary: str, *, hint: str = "", where: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.hint = hint
        self.where = where

    def line(self) -> str:
        head = f"{self.where}: {self.summary}" if self.where else self.summary
        return f"{head}. {self.hint}" if self.hint else head


class ConfigError(NgpError):
    """envs/<env>.toml is missing, malformed or invalid, or a secret variable is not set."""


class StateError(NgpError):
    """The state file is corrupt, foreign, from a newer ngp, or changed under us."""


class LockError(NgpError):
    """Another run holds the env's lock."""


class GraphError(NgpError):
    """The desired resources reference unknown addresses or form a cycle."""


class UnknownKindError(NgpError):
    """A graph or a state names a resource kind this ngp does not have."""


class ResourceError(NgpError):
    """An AWS (or Marathon) call for one resource failed."""


class NotOwnedError(ResourceError):
    """An object at a name ngp chose belongs to another env (or was not made by ngp): it is
    never taken over, changed or deleted. Raised before any call that would change it."""


class Interrupted(NgpError):
    """Ctrl-C stopped an apply: nothing new was started, and what ran finished and is saved."""

    exit_code = 130


class Quit(BaseException):
    """Ctrl-C that ends the command at once: the CLI's own (outside an apply) or the second one
    during an apply. The CLI says `line()` and exits 130 without waiting for running AWS calls
    (their intents are saved; the next run settles them).

    A BaseException, as KeyboardInterrupt is, so that no `except Exception` on the way takes it
    for a failure; not a KeyboardInterrupt, which click turns into exit 1 or a silent exit.
    saves_stopped: no state write can land any more, so the env's lock may be released;
    lock: what the store says of a lock it left to its lease."""

    def __init__(self, summary: str, *, saves_stopped: bool = True) -> None:
        super().__init__(summary)
        self.summary = summary
        self.saves_stopped = saves_stopped
        self.lock = ""

    def line(self) -> str:
        return f"{self.summary}; {self.lock}." if self.lock else f"{self.summary}."


class ApplyError(NgpError):
    """Some resources failed during apply; the rest were applied and saved."""

    def __init__(self, failures: dict[str, NgpError], skipped: list[str]) -> None:
        first = next(iter(failures.values()))
        more = f" (and {len(failures) - 1} more failed)" if len(failures) > 1 else ""
        skip = f"; {len(skipped)} dependent resource(s) not attempted" if skipped else ""
        super().__init__(
            f"{first.line()}{more}{skip}",
            hint="" if first.hint else "Fix the cause and run the command again: "
            "what was done is saved.",
        )
        self.failures = failures
        self.skipped = skipped
