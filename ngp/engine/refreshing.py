"""Refresh and plan: what AWS has for every address, one batched read per kind."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_message
from ngp.engine import ownership
from ngp.engine.run import Run, phase
from ngp.errors import NgpError, ResourceError
from ngp.graph import Resource
from ngp.plan import Plan, make_plan, make_refresh_plan
from ngp.resources import get_kind
from ngp.resources.base import ReadOnlyKind


def refresh(run: Run) -> dict[str, dict[str, Any] | None]:
    """What AWS has for every recorded (and every read-only desired) address: one batched
    read per kind, the kinds read in parallel."""
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

    def read(kind_name: str) -> dict[str, dict[str, Any]]:
        try:
            return get_kind(kind_name).read_many(run.ctx, sorted(set(wanted[kind_name].values())))
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
    return observed


def plan(run: Run, *, targets: list[str] | None = None, destroy: bool = False,
         replace: list[str] | None = None, refresh_only: bool = False) -> Plan:
    """The plan of the run: make AWS match the config (replace: rebuild these addresses
    even if they match), or with refresh_only, make the state match AWS."""
    for warning in run.desired.warnings:
        run.reporter.warn(warning)
    if refresh_only:
        if targets or replace or destroy:
            raise NgpError("--refresh-only cannot be used with --target, --replace or "
                           "--destroy", hint="A refresh-only plan records every drifted "
                           "object and changes nothing in AWS; drop the others.")
        return make_refresh_plan(run.state, refresh(run), outputs=run.desired.outputs)
    return make_plan(run.desired.graph, run.state, refresh(run), targets=targets, destroy=destroy,
                     outputs=run.desired.outputs, replace=replace)
