"""Refresh and plan: what AWS has for every address, one batched read per kind."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_message
from ngp.engine import owned, ownership
from ngp.engine.run import Run, phase
from ngp.errors import NgpError, ResourceError
from ngp.graph import Resource
from ngp.marathon.endpoints import recorded_endpoint
from ngp.plan import Plan, make_plan, make_refresh_plan
from ngp.resources import get_kind
from ngp.resources.base import ReadOnlyKind


def refresh(run: Run) -> dict[str, dict[str, Any] | None]:
    """What AWS has for every recorded (and every read-only desired) address: one batched
    read per kind, the kinds read in parallel."""
    return _refresh(run)[0]


def _refresh(run: Run) -> tuple[dict[str, dict[str, Any] | None], owned.Listings]:
    """refresh, and what each kind AWS lists by tag has tagged for the env (the same one
    call per kind: the recorded ids are read from it)."""
    wanted: dict[str, dict[str, str]] = {}  # kind -> address -> id
    lookups: dict[str, Resource] = {}  # read-only objects named by a query
    observed: dict[str, dict[str, Any] | None] = {}
    for address, rec in run.state.resources.items():
        if not get_kind(rec.kind, where=address).read_only:
            wanted.setdefault(rec.kind, {})[address] = rec.id
    for address, res in run.desired.graph.resources.items():
        kind = get_kind(res.kind, where=address)
        known = run.state.resources.get(address)
        if not kind.read_only:
            continue
        if kind.lookup_once and known and known.kind == res.kind and known.spec == res.spec:
            observed[address] = {"id": known.id, **known.outputs}  # kept until its spec changes
        elif "id" in res.spec:
            wanted.setdefault(res.kind, {})[address] = res.spec["id"]
        else:
            lookups[address] = res

    listings: owned.Listings = {}
    for kind_name in owned.kinds_to_list(run):
        wanted.setdefault(kind_name, {})

    def read(kind_name: str) -> dict[str, dict[str, Any]]:
        kind, ids = get_kind(kind_name), sorted(set(wanted[kind_name].values()))
        try:
            if owned.listable(kind):
                return owned.read_listed(run.ctx, kind, ids, listings)
            return kind.read_many(run.ctx, ids)
        except ClientError as exc:
            raise ResourceError(f"cannot read: {error_message(exc)}", where=kind_name,
                                hint="Check the credentials' permissions.") from None

    def look_up(address: str) -> dict[str, Any] | None:
        res = lookups[address]
        try:
            kind = get_kind(res.kind, where=address)
            assert isinstance(kind, ReadOnlyKind)  # only read-only kinds are looked up
            return kind.lookup(run.ctx, res.spec)
        except ClientError as exc:
            raise ResourceError(f"cannot look up: {error_message(exc)}", where=address) from None
        except NgpError as exc:
            exc.where = exc.where or address
            raise

    workers = max(1, min(run.settings.core.parallelism, len(wanted) + len(lookups)))
    count = sum(map(len, wanted.values())) + len(lookups)
    with phase(run.reporter, f"Refreshing {count} resource{'s' * (count != 1)}"), \
            ThreadPoolExecutor(max_workers=workers) as pool:
        looked = dict(zip(lookups, pool.map(look_up, lookups), strict=True))
        found = dict(zip(wanted, pool.map(read, wanted), strict=True))
    observed.update(looked)
    for kind_name, addresses in wanted.items():
        for address, id in addresses.items():
            observed[address] = found[kind_name].get(id)
    ownership.check(run, observed)  # each object is the one the state says, or nothing runs
    return observed, listings


def plan(run: Run, *, targets: list[str] | None = None, destroy: bool = False,
         replace: list[str] | None = None, refresh_only: bool = False,
         keep_unknown: bool = False) -> Plan:
    """The plan of the run: make AWS match the config (replace: rebuild these addresses
    even if they match), or with refresh_only, make the state match AWS. An object tagged
    for the env at an address the state lacks is adopted; with destroy, one the state does
    not record is deleted too (keep_unknown: only said)."""
    for warning in run.desired.warnings:
        run.reporter.warn(warning)
    if refresh_only:
        if targets or replace or destroy:
            raise NgpError("--refresh-only cannot be used with --target, --replace or "
                           "--destroy", hint="A refresh-only plan records every drifted "
                           "object and changes nothing in AWS; drop the others.")
        return make_refresh_plan(run.state, refresh(run), outputs=run.desired.outputs)
    observed, listings = _refresh(run)
    if destroy:
        made = make_plan(run.desired.graph, run.state, observed, targets=targets, destroy=True)
        return owned.with_unknown(run, made, owned.unknown(run, listings, targets, observed),
                                  keep=keep_unknown)
    return make_plan(run.desired.graph, run.state, observed, targets=targets,
                     outputs=run.desired.outputs, replace=replace,
                     adopt=owned.adoptions(run, listings, observed))


def rebuild_state(run: Run) -> list[str]:
    """`ngp state rebuild`: a lost state made again from what is tagged for the env; says
    what could not be known. Refused if the state records anything: it is not lost, and
    what it knows (the specs last applied, the outputs) no tag holds; a wrong line is
    fixed by itself (`ngp state rm`, `ngp import`), or the state is moved aside first."""
    if run.state.resources or run.state.pending:
        raise NgpError(f"env {run.ctx.env!r} has a state ({len(run.state.resources)} "
                       "resources): it is not rebuilt over", where=run.store.where,
                       hint="Rebuild only a lost state: move this one aside first if it is "
                       "wrong as a whole (`ngp plan` adopts what a line lacks).")
    observed, listings = _refresh(run)
    notes, gated = owned.rebuild(run, observed, owned.adoptions(run, listings, observed),
                                 listings)
    if gated:  # the apps' Marathon is known now: list them, and adopt what is there
        run.ctx = dataclasses.replace(run.ctx, lineage=run.state.lineage,
                                      recorded_marathon=recorded_endpoint(run.state))
        observed, listings = _refresh(run)
        more, _ = owned.rebuild(run, observed, owned.adoptions(run, listings, observed),
                                listings)
        notes += [note for note in more if note not in notes]
    return notes
