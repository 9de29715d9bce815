"""The resource contract and the registry of resource kinds.

A kind is a small class registered under `<service>.<noun>`. It reads, finds, creates,
updates and deletes one sort of object, and declares its spec's fields (which force a
replacement, which are sets); the planner, never the kind, decides which to do.
"""

from __future__ import annotations

import difflib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from botocore.exceptions import ClientError

from ngp.aws import Aws, error_code
from ngp.errors import NotOwnedError, UnknownKindError

TAG_ENV = "ngp:env"
TAG_ADDRESS = "ngp:address"
TAG_LINEAGE = "ngp:lineage"
# A recorded spec's key for the ngp tags an imported object had (`ngp import` writes nothing
# to AWS): the planner then plans an update that writes them (Importable.tag).
NGP_TAGS = "ngp:tags"
# The key of a live object that holds its ngp tags (or an app's labels), where the read's own
# answer carries them (no call more): the refresh checks each object is the one the state
# says it is (ngp.engine.ownership), then drops the key.
OWNER_TAGS = "ngp_tags"


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

    def arn(self, service: str, resource: str) -> str:
        """The ARN of a regional resource of the run's account, e.g. ("logs",
        "log-group:/aws/lambda/x"): a tag call names it without reading it first."""
        return f"arn:aws:{service}:{self.aws.region}:{self.aws.account_id()}:{resource}"

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


Live = TypeVar("Live", dict[str, Any], dict[str, Any] | None)


def with_owner_tags(live: Live, tags: list[dict] | dict[str, str]) -> Live:
    """The live object with its ngp tags under OWNER_TAGS (None stays None: gone)."""
    if live is None:
        return None
    live[OWNER_TAGS] = owner_tags(tags)
    return live


def owner_tags(tags: list[dict] | dict[str, str]) -> dict[str, str]:
    """The ngp tags of an object's tags (a list of Key/Value or a dict)."""
    if isinstance(tags, list):
        tags = {t["Key"]: t["Value"] for t in tags}
    return {k: v for k, v in tags.items() if k.startswith("ngp:")}


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


def found_by(how: str) -> str:
    """Kind.not_imported of an untaggable kind, whose objects find adopts by what they join."""
    return (f"it carries no tags: `ngp plan` finds one made by hand by {how}, and `ngp up` "
            "adopts it (and makes it match)")


@dataclass(frozen=True)
class Field:
    """One key of a kind's spec, as the planner must treat it.

    replaces: a new value makes a new object (the planner replaces, never updates);
    set: a list whose order means nothing to AWS, sorted by canonical so equal sets compare
    equal (a list of dicts by the item key `by`, else by its JSON)."""

    name: str
    replaces: bool = False
    set: bool = False
    by: str | None = None


def _set_order(by: str | None) -> Callable[[Any], tuple[bool, Any]]:
    """A total order for a set's items: numbers as numbers (ports), the rest as text."""
    def order(item: Any) -> tuple[bool, Any]:
        if by is not None and isinstance(item, dict) and by in item:
            item = item[by]
        if isinstance(item, int | float):
            return False, item
        if isinstance(item, dict | list):
            return True, json.dumps(item, sort_keys=True, default=repr)
        return True, str(item)
    return order


class Kind(ABC):
    """The contract every resource kind keeps: five methods, each the kind's own (the
    registry refuses a kind missing one), and its spec's fields declared.

    - read_many(ctx, ids): each live object in the spec's own terms (plus its outputs and a
      `status`), by id, in as few calls as AWS allows; an id that is gone is left out.
    - find(ctx, address, spec): the object this env already owns at address (by its tags
      or a natural key), so an interrupted create is adopted, never duplicated.
    - create(ctx, address, spec) -> (id, outputs): the object is tagged at creation; if
      create raises, nothing it made is left unfindable.
    - update(ctx, id, old, new) -> outputs: change fields that do not force a replacement,
      in place.
    - delete(ctx, id): already gone is success.

    Optional capabilities are their own classes: ReadOnlyKind (looked up, never made),
    Health (a live health judged for `ngp status`), Registers (instances it puts behind a
    balancer), Importable (`ngp import`) and Owned (every object tagged for the env).
    """

    name: ClassVar[str]
    service: ClassVar[str]
    # The spec's keys: the registry meta-test checks every module gives a kind only these.
    fields: ClassVar[tuple[Field, ...]]
    # Every IAM action the kind's calls need: `ngp permissions` builds ngp's policy from them.
    actions: ClassVar[tuple[str, ...]] = ()
    # The service whose service-linked role AWS makes on the kind's first create in an account
    # (the caller needs iam:CreateServiceLinkedRole for it), e.g. "autoscaling.amazonaws.com".
    linked_service: ClassVar[str | None] = None
    outputs: ClassVar[tuple[str, ...]] = ("id",)
    # Outputs a create gives back as its spec gave them (output -> spec field: a name ngp
    # chooses, an id that is that name), so they are known when an object still to be made
    # is planned: what uses them is not replaced for a value "known after apply" (a key
    # pair missing from the state must not replace the instances that name it). As
    # Terraform knows a configured argument (key_name) before apply.
    echoes: ClassVar[dict[str, str]] = {}
    # It makes nothing, it waits (a cluster answers: marathon.ready): `ngp state rebuild`
    # waits for it again rather than finding an object.
    only_waits: ClassVar[bool] = False
    # A read-only kind (a ReadOnlyKind) refers to an object ngp does not own.
    read_only: ClassVar[bool] = False
    # A kind that is not Importable: why `ngp import` refuses it, and what to do instead.
    not_imported: ClassVar[str] = ""
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

    @property
    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    @property
    def replace_on(self) -> frozenset[str]:
        """The fields whose change forces a replacement: declared per field, never coded."""
        return frozenset(f.name for f in self.fields if f.replaces)

    @property
    def set_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.set)

    @abstractmethod
    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]: ...

    @abstractmethod
    def find(self, ctx: Context, address: str,
             spec: dict[str, Any]) -> tuple[str, dict] | None: ...

    @abstractmethod
    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]: ...

    @abstractmethod
    def update(self, ctx: Context, id: str, old: dict[str, Any],
               new: dict[str, Any]) -> dict: ...

    @abstractmethod
    def delete(self, ctx: Context, id: str) -> None: ...

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        """One object, or None if it is gone. A kind with a cheaper one-id call may answer
        it so; the answer must be read_many's."""
        return self.read_many(ctx, [id]).get(id)

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec with its set fields sorted, so equal things compare equal. A kind
        overrides it only to normalise more than order (and says what)."""
        out = dict(spec)
        for f in self.fields:
            if f.set and isinstance(spec.get(f.name), list):
                out[f.name] = sorted(spec[f.name], key=_set_order(f.by))
        return out

    def outputs_of(self, live: dict[str, Any]) -> dict[str, Any]:
        return {key: live[key] for key in self.outputs if key in live}


@dataclass(frozen=True)
class Wanted:
    """What `ngp status` judges a live object against: its spec as last applied, this run's
    read of it, and how many instances the env's other resources put behind it (a balancer's:
    the Registers of the state, by its id)."""

    spec: dict[str, Any]
    live: dict[str, Any]
    members: int = 0


@dataclass(frozen=True)
class Verdict:
    """A live health judged against the spec: whether it is what the spec wants, and the
    one line `ngp status` shows ("2/3 in service")."""

    healthy: bool
    status: str


class Health(ABC):
    """Capability: a live health judged against what is wanted (a group's instances in
    service against its desired capacity), for `ngp status`; None leaves the read's status
    to the engine's plain judgement. May cost calls, so plans never ask it."""

    @abstractmethod
    def health(self, ctx: Context, id: str, wanted: Wanted) -> Verdict | None: ...


class Registers(ABC):
    """Capability: a kind whose objects put instances behind load balancers (a group, an
    attachment), so `ngp status` knows a balancer that should have instances behind it."""

    @abstractmethod
    def registered(self, spec: dict[str, Any]) -> dict[str, int]:
        """The balancers (by id) the spec puts instances behind, and how many."""


class Importable(ABC):
    """Capability: an object made by hand can be adopted with `ngp import` (its tags are read
    to check whose it is, and ngp's are written by the next `up`)."""

    # What the next `up` does to an imported object beyond its fields, said by the import.
    import_warning: ClassVar[str] = ""

    @abstractmethod
    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        """The object's tags, or None if it is gone."""

    @abstractmethod
    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        """Add (or overwrite) these tags, leaving the others."""

    def import_fields(self, spec: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        """Fields of the spec no read can show, which `ngp import` records as the spec's (a
        secret's origin: its value is kept); NgpError refuses the import."""
        return {}

    def spec_tags(self, spec: dict[str, Any]) -> dict[str, str]:
        """ngp's tags that record such fields, written with the owner tags by the first up
        (so that a read, and a rebuilt state, see them)."""
        return {}


class Owned(ABC):
    """Capability: every object of the kind tagged for the env, in one call (paginated),
    each live as read_many gives it plus its `tags` (a dict). Refresh uses it to adopt an
    object the state lost (ngp.engine.owned), `ngp down` to delete one it never knew, and
    `ngp state rebuild` to make a state again. A kind AWS cannot list by tag does not have
    it: its objects are looked for by find, one call per address."""

    # Whether its objects carry ngp:lineage (a Marathon app's labels name env and address
    # only): those that do not are the env's whatever lineage the state has.
    lineage_tagged: ClassVar[bool] = True

    @abstractmethod
    def list_owned(self, ctx: Context) -> dict[str, dict[str, Any]]: ...

    def chosen_id(self, spec: dict[str, Any]) -> str | None:
        """The id a spec's object takes, where ngp chooses it (a Marathon app's): a listed
        object with that id tagged for another address is refused, never overwritten."""
        return None


NAMED = {"id": "name", "name": "name"}  # echoes of a kind whose id is the name it is given


def tags_dict(tags: list[dict] | dict[str, str] | None) -> dict[str, str]:
    """Tags as a dict, from AWS's list of Key/Value pairs or a dict."""
    if isinstance(tags, dict):
        return dict(tags)
    return {t["Key"]: t["Value"] for t in tags or []}


class ReadOnlyKind(Kind):
    """Capability: a kind that refers to an object ngp does not own (an adopted VPC, an
    image). It is looked up and referenced, never created, changed or deleted: the planner
    only reads and forgets it, so those parts of the contract refuse."""

    read_only = True

    def lookup(self, ctx: Context, spec: dict[str, Any]) -> dict[str, Any] | None:
        """The object the spec names: by its id, or (a kind's own) by a query."""
        return self.read(ctx, spec["id"])

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        return None  # never created, so never adopted

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        raise self._never("created")

    def update(self, ctx: Context, id: str, old: dict[str, Any], new: dict[str, Any]) -> dict:
        raise self._never("updated")

    def delete(self, ctx: Context, id: str) -> None:
        raise self._never("deleted")

    def _never(self, what: str) -> RuntimeError:
        return RuntimeError(f"{self.name} is read-only and is never {what} (a planner bug)")


class PerParentKind(Kind):
    """A kind AWS lists per parent object and cannot tag (a function's permission statements,
    a rule's targets, an API's stages). Its id is `parent/child` (a child's own name never
    holds a "/"); read_many makes one call per parent, and a parent that is gone (AWS
    answers one of `parent_gone`) takes its children with it. find looks for the spec's
    `child_field` among the children of its `parent_field`."""

    parent_field: ClassVar[str]
    child_field: ClassVar[str]
    not_imported = found_by("its parent and its name")
    parent_gone: ClassVar[frozenset[str]]

    @abstractmethod
    def read_children(self, ctx: Context, parent: str) -> dict[str, dict[str, Any]]:
        """The parent's children by child id, each live as read_many gives it."""

    @staticmethod
    def split_id(id: str) -> tuple[str, str]:
        parent, child = id.rsplit("/", 1)
        return parent, child

    def children(self, ctx: Context, parent: str) -> dict[str, dict[str, Any]]:
        try:
            return self.read_children(ctx, parent)
        except ClientError as exc:
            if error_code(exc) in self.parent_gone:
                return {}
            raise

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        wanted = set(ids)
        found: dict[str, dict[str, Any]] = {}
        for parent in sorted({self.split_id(id)[0] for id in wanted}):
            for live in self.children(ctx, parent).values():
                if live["id"] in wanted:
                    found[live["id"]] = live
        return found

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        live = self.children(ctx, spec[self.parent_field]).get(spec[self.child_field])
        return (live["id"], live) if live else None


def never_updated(kind: Kind, id: str) -> RuntimeError:
    """What update raises for a kind whose every field forces a replacement."""
    return RuntimeError(f"{kind.name} {id}: every field forces a replacement, so it is never "
                        "updated in place (a planner bug)")


REQUIRED = ("read_many", "find", "create", "update", "delete")
KINDS: dict[str, Kind] = {}
K = TypeVar("K", bound=type[Kind])


def kind(cls: K) -> K:
    """Register a kind class under its `name`. Refused, when ngp is imported: a second kind
    of one name, a kind missing a required method or its fields, a hand-written replace_on
    (it is the fields' own), and read_only set outside ReadOnlyKind."""
    label = f"resource kind {cls.__dict__.get('name', cls.__name__)!r} ({cls.__qualname__})"
    for method in REQUIRED:
        if getattr(getattr(cls, method), "__isabstractmethod__", False):
            raise RuntimeError(f"{label} does not implement {method}(), which every kind must")
    if cls.__abstractmethods__:
        raise RuntimeError(f"{label} does not implement "
                           f"{', '.join(sorted(cls.__abstractmethods__))}()")
    if "name" not in cls.__dict__:
        raise RuntimeError(f"{label} has no name of its own")
    if not isinstance(getattr(cls, "fields", None), tuple) or not all(
            isinstance(f, Field) for f in cls.fields):
        raise RuntimeError(f"{label} does not declare its spec's fields (a tuple of Field)")
    if not isinstance(cls.replace_on, property):
        raise RuntimeError(f"{label} sets replace_on: declare Field(..., replaces=True)")
    if cls.read_only and not issubclass(cls, ReadOnlyKind):
        raise RuntimeError(f"{label} is read_only but not a ReadOnlyKind")
    if cls.name in KINDS:
        raise RuntimeError(f"resource kind {cls.name!r} is registered twice")
    KINDS[cls.name] = cls()
    return cls


def get_kind(name: str, *, where: str = "", hint: str = "") -> Kind:
    """The kind registered as name; an unknown one is one clear error, naming where it was
    met (the address, or the state file and address) when the caller knows."""
    found = KINDS.get(name)
    if found is not None:
        return found
    close = difflib.get_close_matches(str(name), KINDS, n=1)
    raise UnknownKindError(
        f"unknown resource kind {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
        where=where, hint=hint or "This ngp does not know it: check the spelling, or upgrade "
        "ngp if a newer one made it.")
