"""What the env owns by its tags: an object the state lost is adopted, never made twice;
`ngp down` deletes what the state never knew; `ngp state rebuild` makes a lost state again.

Every object ngp makes carries `ngp:env`, `ngp:address` and `ngp:lineage`. A kind that AWS
can list by tag is an `Owned` kind: its refresh is one listing of everything tagged for the
env (the recorded ids are read from it, so the call count stays one per kind). How each
service allows it, and what the others do instead:

- EC2 (VPCs, subnets, gateways, route tables, security groups, instances, key pairs,
  launch templates, EIPs): every Describe* takes a `tag:<key>` filter: one paginated call.
- Auto Scaling groups: DescribeAutoScalingGroups takes `tag:<key>` filters: one call.
- Secrets Manager: ListSecrets takes tag-key and tag-value filters (prefixes, compared
  exactly here) and answers the tags: one call.
- Classic ELB: DescribeTags takes at most 20 names and nothing lists by tag
  (docs.aws.amazon.com/elasticloadbalancing/2012-06-01/APIReference/API_DescribeTags.html);
  IAM: ListRoles answers no tags (boto3 iam list_roles: "does not return ... Tags"), so a
  listing would be one call per role; S3 buckets: GetBucketTagging is per bucket. These and
  the untaggable (associations, a function's permissions, a rule's targets, stages: the
  PerParentKind children) are looked for by `find`, one call per address the state lacks,
  as an interrupted create is.
- Marathon apps: GET /v2/apps takes a label selector (NGP_ENV==<env>): one call. Their
  labels carry no lineage (Owned.lineage_tagged), so any state of the env takes them.

Which lineage counts: an object tagged for the env with the state's lineage (or with the
lineage of an object the state records: an env whose state was rebuilt keeps its first
objects' tags). A state that records nothing is new or lost: then any lineage of the env
counts, since nothing else can say whose the object is (two states for one env in one
account is a mistake ngp cannot see through).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code, error_message
from ngp.engine.ownership import shown
from ngp.engine.run import Run
from ngp.errors import NgpError, NotOwnedError, ResourceError
from ngp.graph import UNKNOWN, Ref, matches, resolve
from ngp.plan import Action, Change, Plan, make_plan
from ngp.resources import get_kind
from ngp.resources.base import (
    OWNER_TAGS,
    TAG_ADDRESS,
    TAG_ENV,
    TAG_LINEAGE,
    Context,
    Kind,
    Owned,
    owner_tags,
)
from ngp.state import Recorded

Listings = dict[str, dict[str, dict[str, Any]]]  # kind -> id -> live (with its "tags")
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


@dataclass(frozen=True)
class Tagged:
    """One live object tagged for the env."""

    kind: str
    id: str
    address: str
    lineage: str
    live: dict[str, Any]


def listable(kind: Kind) -> bool:
    return isinstance(kind, Owned) and not kind.read_only


def kinds_to_list(run: Run) -> set[str]:
    """The env's kinds (wanted or recorded) that AWS lists by tag."""
    names = {r.kind for r in run.desired.graph.resources.values()}
    names |= {r.kind for r in run.state.resources.values()}
    return {n for n in names if listable(get_kind(n))}


def read_listed(ctx: Context, kind: Kind, ids: list[str],
                listings: Listings) -> dict[str, dict[str, Any]]:
    """read_many's answer for ids, from one listing of what the env owns (kept in
    listings); an id the listing lacks (its tags removed by hand, or gone) is read alone."""
    assert isinstance(kind, Owned)
    try:
        listing = kind.list_owned(ctx)
    except NgpError:
        if ids:
            raise  # what the state records must be read
        # Its service does not answer (a Marathon not up yet) and the state records none of
        # it: nothing is known; find looks again per address, and a create says why.
        return {}
    listings[kind.name] = listing
    found = {id: _untagged(listing[id]) for id in ids if id in listing}
    for id in ids:
        if id not in listing and (live := kind.read(ctx, id)) is not None:
            found[id] = live
    return found


def _untagged(live: dict[str, Any]) -> dict[str, Any]:
    """read_many's answer from a listed object: its ngp tags where a read puts them, for the
    ownership check (engine/ownership.py: an id must be the address's own object)."""
    return {**{k: v for k, v in live.items() if k != "tags"},
            OWNER_TAGS: live.get(OWNER_TAGS) or owner_tags(live["tags"])}  # an app's labels


def _lineages(run: Run, listings: Listings) -> set[str] | None:
    """The lineages that are this env's (None: any, the state records nothing)."""
    if not run.state.resources:
        return None
    recorded = {(rec.kind, rec.id) for rec in run.state.resources.values()}
    return {run.state.lineage} | {
        live["tags"].get(TAG_LINEAGE, "") for kind, listing in listings.items()
        if _lineage_tagged(kind) for id, live in listing.items() if (kind, id) in recorded}


def _lineage_tagged(kind: str) -> bool:
    found = get_kind(kind)
    return not isinstance(found, Owned) or found.lineage_tagged


def tagged(run: Run, listings: Listings) -> list[Tagged]:
    """Every listed object tagged for the env, one of its lineages, and an address (machines
    a group launches carry the env but no address: they are the group's)."""
    accepted = _lineages(run, listings)
    found = []
    for kind, listing in sorted(listings.items()):
        for id, live in sorted(listing.items()):
            tags = live.get("tags", {})
            lineage = tags.get(TAG_LINEAGE, "")
            if tags.get(TAG_ENV) != run.ctx.env or not tags.get(TAG_ADDRESS):
                continue
            if accepted is None or lineage in accepted or not _lineage_tagged(kind):
                found.append(Tagged(kind, id, tags[TAG_ADDRESS], lineage, _untagged(live)))
    return found


def adoptions(run: Run, listings: Listings,
              observed: dict[str, dict[str, Any] | None] | None = None
              ) -> dict[str, dict[str, Any]]:
    """The live object to adopt at each wanted address the state lacks: from the listings,
    else (a kind AWS cannot list by tag) by find. Two live objects of one address stop the
    plan: which is the env's is for a person to say."""
    graph, state = run.desired.graph, run.state
    by_address: dict[str, list[Tagged]] = {}
    # An object the state records at another address (moved by `ngp state mv`, its tag not
    # yet rewritten) is that address's: adopting it here too would delete what it adopts.
    recorded = {(r.kind, r.id): a for a, r in state.resources.items()}
    for obj in tagged(run, listings):
        if recorded.get((obj.kind, obj.id), obj.address) != obj.address:
            continue
        res, rec = graph.resources.get(obj.address), state.resources.get(obj.address)
        if (res and res.kind == obj.kind) or (rec and rec.kind == obj.kind):
            by_address.setdefault(obj.address, []).append(obj)
    _refuse_taken(run, listings, by_address)  # first: the more precise of two refusals
    for address, objs in sorted(by_address.items()):
        if len(objs) > 1:
            ids = " and ".join(o.id for o in objs)
            raise NgpError(f"{len(objs)} live objects are tagged ngp:address={address} for env "
                           f"{run.ctx.env!r}: {ids}", where=address,
                           hint="One is a duplicate: delete the one nothing uses (or remove "
                           "its ngp tags), then plan again.")
    adopt = {a: {**objs[0].live, "id": objs[0].id} for a, objs in by_address.items()
             if a not in state.resources}
    missing = [a for a in graph.order() if a not in state.resources and a not in adopt
               and not get_kind(graph.resources[a].kind).read_only
               and graph.resources[a].kind not in listings]
    # The read-only lookups (a hosted zone, an image) give references too.
    looked = {a: live for a, live in (observed or {}).items() if live is not None
              and a in graph.resources and get_kind(graph.resources[a].kind).read_only}
    adopt.update(_found(run, missing, {**looked, **adopt}))
    return adopt


def _refuse_taken(run: Run, listings: Listings, seen: dict[str, list[Tagged]]) -> None:
    """A wanted address the state lacks whose object's id ngp chooses (an app's), held by a
    listed object tagged for another address: a create would overwrite that one."""
    graph = run.desired.graph
    for address in graph.order():
        res = graph.resources[address]
        kind = get_kind(res.kind, where=address)
        if address in run.state.resources or address in seen or res.kind not in listings \
                or not isinstance(kind, Owned):
            continue
        id = kind.chosen_id(res.spec)
        live = listings[res.kind].get(id) if id else None
        if live is None or not (live.get("tags") or {}).get(TAG_ADDRESS):
            continue  # none, or the env's without an address: find adopts it (app labels)
        said = _untagged(live)[OWNER_TAGS]
        raise NotOwnedError(
            f"{id} is another address's object ({shown(said)}), so it is not taken over",
            where=address, hint="Nothing was changed. If it is this address's, set its "
            "address label (tag) to this address; if it is no longer used, delete it.")


def _found(run: Run, addresses: Iterable[str],
           adopted: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What find sees at each address (in the graph's order, so a spec's references to
    objects recorded or adopted are known); an address whose spec needs an object not made
    yet is not looked for: nothing of it can exist."""
    graph, state = run.desired.graph, run.state
    found: dict[str, dict[str, Any]] = {}
    silent: set[str] = set()  # services that did not answer: not asked again this plan

    def lookup(ref: Ref) -> Any:
        rec = state.resources.get(ref.address)
        outputs = rec.outputs if rec else found.get(ref.address) or adopted.get(ref.address)
        return UNKNOWN if not outputs else outputs.get(ref.output, UNKNOWN)

    for address in addresses:
        res = graph.resources[address]
        kind = get_kind(res.kind, where=address)
        spec = resolve(res.spec, lookup)
        if _unknown(spec) or kind.service in silent:
            continue
        try:
            hit = kind.find(run.ctx, address, kind.canonical(spec))
        except NotOwnedError:
            continue  # another env's name: the create says so, as before
        except NgpError:
            # Its service does not answer (a Marathon not up yet): nothing is known of it,
            # and its create, which asks again, says so naming the address.
            silent.add(kind.service)
            continue
        except ClientError as exc:
            if error_code(exc) in DENIED:
                continue  # not this env's to see (a scoped policy): its create says more
            raise ResourceError(f"cannot look for it: {error_message(exc)}",
                                where=address) from None
        if hit is not None:
            id, live = hit
            found[address] = {**kind.outputs_of(live), **live, "id": id}
    return found


def _unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_unknown(v) for v in value)
    return False


def unknown(run: Run, listings: Listings, targets: list[str] | None = None,
            observed: dict[str, dict[str, Any] | None] | None = None) -> list[Tagged]:
    """What is tagged for the env (and its lineage) that the state does not record, for
    `ngp down`: listed kinds from the listings, the others by find at the config's
    addresses the state lacks."""
    recorded = {(rec.kind, rec.id) for rec in run.state.resources.values()}
    found = [o for o in tagged(run, listings) if (o.kind, o.id) not in recorded]
    graph = run.desired.graph
    missing = [a for a in graph.order() if a not in run.state.resources
               and not get_kind(graph.resources[a].kind).read_only
               and graph.resources[a].kind not in listings]
    # What the listings found gives the references of the others' specs (an association's
    # subnet and route table), so they can be looked for with no state at all.
    seen = {a: live for a, live in (observed or {}).items() if live is not None}
    seen.update({o.address: {**o.live, "id": o.id} for o in found})
    for address, live in _found(run, missing, seen).items():
        kind = graph.resources[address].kind
        if (kind, live["id"]) not in recorded:
            found.append(Tagged(kind, live["id"], address, "", live))
    for kind in sorted(kinds_to_list(run) - set(listings)):
        # Its service did not answer (read_listed): what it holds unrecorded is not known.
        run.reporter.warn(f"what the env has of {kind} could not be listed (its service did "
                          "not answer): an object the state does not record is left")
    if targets:
        found = [o for o in found if any(matches(o.address, t) for t in targets)]
    return found


def with_unknown(run: Run, plan: Plan, found: list[Tagged], *, keep: bool) -> Plan:
    """A destroy plan that deletes, after what the state records, what it does not (keep:
    only says so). Each is ordered by the config's references where its address is the
    config's, else after the objects of the kinds its kind uses (an object recorded under
    its address keeps the address; a second one is named `address@id`)."""
    if not found:
        return plan
    listed = ", ".join(f"{o.address} {o.id}" for o in found)
    if keep:
        run.reporter.warn(f"{len(found)} object(s) tagged for env {run.ctx.env!r} are not in "
                          f"the state and are kept (--keep-unknown): {listed}")
        return plan
    run.reporter.note(f"{len(found)} object(s) tagged for env {run.ctx.env!r} are not in the "
                      f"state; deleted too: {listed}")
    graph, taken = run.desired.graph, {c.address for c in plan.changes}
    uses = _kind_uses(run)
    changes = list(plan.changes)
    for obj in found:
        res = graph.resources.get(obj.address)
        if res is not None and res.kind == obj.kind:
            deps = tuple(sorted(res.deps()))
        else:
            deps = tuple(sorted(c.address for c in changes if c.kind in uses.get(obj.kind, ())))
        address = obj.address if obj.address not in taken else f"{obj.address}@{obj.id}"
        taken.add(address)
        changes.append(Change(address=address, kind=obj.kind, action=Action.DELETE, id=obj.id,
                              reason="tagged for this env; not in the state", deps=deps))
    return dataclasses.replace(plan, changes=tuple(changes))


def _kind_uses(run: Run) -> dict[str, set[str]]:
    """Which kinds each kind's objects use, from the config's and the state's references
    (a kind that two kinds use each of the other's is left unordered)."""
    kinds: dict[str, str] = {a: r.kind for a, r in run.state.resources.items()}
    kinds.update({a: r.kind for a, r in run.desired.graph.resources.items()})
    edges: set[tuple[str, str]] = set()
    for res in run.desired.graph.resources.values():
        edges |= {(res.kind, kinds[d]) for d in res.deps() if d in kinds}
    for rec in run.state.resources.values():
        edges |= {(rec.kind, kinds[d]) for d in rec.deps if d in kinds}
    uses: dict[str, set[str]] = {}
    for a, b in edges:
        if a != b and (b, a) not in edges:
            uses.setdefault(a, set()).add(b)
    return uses


def rebuild(run: Run, observed: dict[str, dict[str, Any] | None],
            adopt: dict[str, dict[str, Any]], listings: Listings) -> tuple[list[str], bool]:
    """Record every adopted object in the (empty) state, and the read-only lookups, changing
    nothing in AWS (a gate that only waits, marathon.ready, is waited for); returns what could
    not be known, and whether a gate was passed (what it leads to can now be listed). What a
    read shows is recorded as AWS has it (the next plan changes what differs from the config);
    what no read shows (user data, a generated secret's value, a role's description) is taken
    as the config's, as after an interrupted create of a kind one call makes whole, and
    said."""
    graph = run.desired.graph
    lineages = sorted({o.lineage for o in tagged(run, listings)
                       if o.address in adopt and _lineage_tagged(o.kind)})
    notes: list[str] = []
    if len(lineages) == 1 and lineages[0]:
        run.state.lineage = lineages[0]  # the objects' own: the next run's tags match
    elif len(lineages) > 1:
        notes.append(f"the objects carry {len(lineages)} lineages ({', '.join(lineages)}); "
                     f"the state takes {run.state.lineage}")
    plan = make_plan(graph, run.state, observed, adopt=adopt)
    done: dict[str, Recorded] = {}
    gates: list[tuple[Change, dict[str, Any]]] = []

    def lookup(ref: Ref) -> Any:
        rec = done.get(ref.address)
        return UNKNOWN if rec is None else rec.outputs.get(ref.output, UNKNOWN)

    for change in plan.changes:
        kind = get_kind(change.kind)
        if change.action == Action.CREATE and kind.only_waits:
            spec = kind.canonical(resolve(change.spec, lookup))
            if not _unknown(spec):
                gates.append((change, spec))
            continue
        if change.action not in (Action.ADOPT, Action.READ):
            continue
        spec = kind.canonical(resolve(change.spec, lookup))
        live = change.adopted if change.action == Action.ADOPT else change.before
        visible = {k: live[k] for k in spec if k in live}
        hidden = sorted(set(spec) - set(visible)) if change.action == Action.ADOPT else []
        if hidden:
            # Unlike an interrupted create's adoption (its next run sets them again), a
            # rebuild changes nothing in AWS: the fields are taken as the config's, said.
            notes.append(f"{change.address}: {', '.join(hidden)} taken as the configuration "
                         "says (no read shows them)")
        known = kind.canonical({**spec, **visible})
        if unset := sorted(k for k, v in known.items() if _unknown(v)):
            # It uses an object the env lacks: the next `ngp up` makes that, then sets these.
            known = {k: v for k, v in known.items() if k not in unset}
            notes.append(f"{change.address}: {', '.join(unset)} not known (it uses an object "
                         "that does not exist): the next `ngp up` sets them")
        done[change.address] = Recorded(change.kind, live["id"], known, kind.outputs_of(live),
                                        list(change.deps), change.module)
    with run.saving() as state:
        state.resources.update(done)
    # A gate (the cluster answers) made nothing AWS could list: waited for again, as `ngp up`
    # would, once what was found is saved (a cluster that does not answer loses none of it),
    # so that what comes after it (the apps' endpoint) can be listed.
    passed = False
    for change, spec in gates:
        try:
            id, outputs = get_kind(change.kind).create(run.ctx, change.address, spec)
        except NgpError as exc:
            notes.append(f"{change.address}: {exc.summary}; the next `ngp up` waits again")
            continue
        with run.saving() as state:
            state.resources[change.address] = Recorded(change.kind, id, spec, outputs,
                                                       list(change.deps), change.module)
        passed = True
    return notes, passed
