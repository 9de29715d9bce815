"""The resource contract and the registry of resource kinds.

A kind is a small class registered under `<service>.<noun>`. It reads, finds, creates,
updates and deletes one sort of object; the planner, never the kind, decides which to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from ngp.aws import Aws
from ngp.errors import NotOwnedError

TAG_ENV = "ngp:env"
TAG_ADDRESS = "ngp:address"
TAG_LINEAGE = "ngp:lineage"


@dataclass(frozen=True)
class Context:
    """What a kind may use: the run's AWS clients and the env's identity for tags."""

    aws: Aws
    env: str
    lineage: str
    marathons: Any = None  # the run's Marathon clients (ngp.marathon.endpoints.Marathons)
    # The endpoint the env's recorded apps are at (its recorded ready gate's), for reads and
    # deletes, which have only an id; None: the env's fixed Marathon.
    recorded_marathon: dict[str, Any] | None = None

    def tags(self, address: str, name: str | None = None) -> dict[str, str]:
        tags = {TAG_ENV: self.env, TAG_ADDRESS: address, TAG_LINEAGE: self.lineage}
        if name:
            tags["Name"] = name
        return tags


def owner_of(tags: list[dict] | dict[str, str]) -> str | None:
    """The env an object's tags say it belongs to (None: not made by ngp)."""
    if isinstance(tags, list):
        tags = {t["Key"]: t["Value"] for t in tags}
    return tags.get(TAG_ENV)


def check_owned(ctx: Context, address: str, what: str, name: str,
                tags: list[dict] | dict[str, str]) -> None:
    """Refuse to adopt, change or delete an object found by its unique name that this env did
    not make: another env's (two envs in one account) or nobody's."""
    owner = owner_of(tags)
    if owner == ctx.env:
        return
    made = f"belongs to env {owner!r}" if owner else "was not made by ngp"
    raise NotOwnedError(
        f"{what} {name!r} exists and {made}, not env {ctx.env!r}", where=address,
        hint="Leave it to its owner: give this env other names (name_prefix/name_suffix in "
        "its file), or delete the object if nothing uses it.")


class Kind:
    """The contract every resource kind keeps.

    - read(ctx, id): the live object in the spec's own terms (plus its outputs and a
      `status`), or None if it is gone.
    - read_many(ctx, ids): the same for many ids, in as few calls as AWS allows.
    - find(ctx, address, spec): the object this env already owns at address (by its tags
      or a natural key), so an interrupted create is adopted, never duplicated.
    - create(ctx, address, spec) -> (id, outputs): the object is tagged at creation; if
      create raises, nothing it made is left unfindable.
    - update(ctx, id, old, new) -> outputs: change fields not in replace_on, in place.
    - delete(ctx, id): already gone is success.
    """

    name: ClassVar[str]
    service: ClassVar[str]
    # Every IAM action the kind's calls need: `ngp permissions` builds ngp's policy from them.
    actions: ClassVar[tuple[str, ...]] = ()
    # The service whose service-linked role AWS makes on the kind's first create in an account
    # (the caller needs iam:CreateServiceLinkedRole for it), e.g. "autoscaling.amazonaws.com".
    linked_service: ClassVar[str | None] = None
    replace_on: ClassVar[frozenset[str]] = frozenset()
    outputs: ClassVar[tuple[str, ...]] = ("id",)
    # A read-only kind refers to an object ngp does not own (an adopted VPC, an image): it
    # is looked up and referenced, never created, changed or deleted.
    read_only: ClassVar[bool] = False
    # A read-only lookup that is kept once made, until its spec changes (a newer image must
    # not replace running machines by surprise).
    lookup_once: ClassVar[bool] = False
    # Why an in-place update of a field is more than a call ("stops and starts the instance").
    update_notes: ClassVar[dict[str, str]] = {}
    # One create call sets every field of the spec: an object adopted after an interrupted
    # create has them all (so fields no read can see, like user data, are not re-applied).
    created_whole: ClassVar[bool] = False
    # How long a create (and a delete) typically takes on AWS, in seconds: the scheduler
    # starts the longest chains of these first (shared/reference/aws-latency.md).
    typical_seconds: ClassVar[float] = 1.0
    typical_delete_seconds: ClassVar[float] = 1.0

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        return self.read_many(ctx, [id]).get(id)

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        found = {}
        for id in ids:
            live = self.read(ctx, id)
            if live is not None:
                found[id] = live
        return found

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        return None

    def health(self, ctx: Context, id: str) -> str | None:
        """For `ngp status`: a live health a read does not give (a balancer's instances in
        service), or None. Costs calls, so plans never ask it."""
        return None

    def lookup(self, ctx: Context, spec: dict[str, Any]) -> dict[str, Any] | None:
        """For a read-only kind: the object the spec names (by id, or by a query)."""
        return self.read(ctx, spec["id"])

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        raise NotImplementedError

    def update(self, ctx: Context, id: str, old: dict[str, Any], new: dict[str, Any]) -> dict:
        raise NotImplementedError

    def delete(self, ctx: Context, id: str) -> None:
        raise NotImplementedError

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec with set-like fields in a fixed order, so equal things compare equal."""
        return spec

    def outputs_of(self, live: dict[str, Any]) -> dict[str, Any]:
        return {key: live[key] for key in self.outputs if key in live}


KINDS: dict[str, Kind] = {}
K = TypeVar("K", bound=type[Kind])


def kind(cls: K) -> K:
    """Register a kind class under its `name`; a second registration is a bug."""
    if cls.name in KINDS:
        raise RuntimeError(f"resource kind {cls.name!r} is registered twice")
    KINDS[cls.name] = cls()
    return cls


def get_kind(name: str) -> Kind:
    return KINDS[name]

