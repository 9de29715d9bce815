"""`ngp import`: adopt an object made by hand into the state, at an address the graph wants.

Read-only on AWS, as Terraform's import: the object is read by id and its tags checked; the
state records what the read saw (a field no read shows is left out, so the plan shows it as
to be set) and which of ngp's tags it lacks, so the next `up` plans an update that writes them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from botocore.exceptions import ClientError

from ngp.aws import error_message
from ngp.engine.run import Run
from ngp.errors import NgpError, NotOwnedError, ResourceError, StateError
from ngp.graph import UNKNOWN, has_unknown, resolve
from ngp.resources import get_kind
from ngp.resources.base import NGP_TAGS, TAG_ADDRESS, TAG_ENV, TAG_LINEAGE, Importable
from ngp.state import Recorded


@dataclass(frozen=True)
class Imported:
    """What `ngp import` recorded, and what the next plan will say of it."""

    address: str
    kind: str
    id: str
    untagged: bool  # ngp's tags are still to be written (an update)
    replaces: tuple[str, ...]  # fields that differ from the spec and force a replacement
    warning: str = ""  # what the next `up` does beyond its fields (Importable.import_warning)


def suggestion(name: str, known: list[str]) -> str:
    """`Did you mean X?`, for the closest of known (difflib), or nothing."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f"Did you mean {close[0]}? " if close else ""


def import_object(run: Run, address: str, id: str) -> Imported:
    """Record the live object `id` at `address` (under the run's lock). Refused: an address
    the graph does not want, or the state already has; a kind that is looked up or cannot
    be imported; an id that is not there, or whose tags name another env or address."""
    env = run.settings.env
    res = run.desired.graph.resources.get(address)
    if res is None:
        raise NgpError(f"env {env!r} has no resource {address!r}",
                       hint=suggestion(address, sorted(run.desired.graph.resources))
                       + "`ngp graph` lists the env's addresses.")
    if address in run.state.resources or address in run.state.pending:
        held = run.state.resources.get(address)
        what = f"id {held.id}" if held else "an interrupted step"
        raise StateError(f"{address} is in the state already ({what})",
                         hint=f"`ngp state rm {address}` forgets it first (the object stays).")
    kind = get_kind(res.kind, where=address)
    if kind.read_only:
        raise NgpError(f"{res.kind} is looked up by every plan, never imported", where=address,
                       hint="Set it in the env's file; `ngp up` reads it.")
    if not isinstance(kind, Importable):
        raise NgpError(f"{res.kind} objects are not imported: {kind.not_imported}",
                       where=address, hint="Run `ngp plan` to see it adopted (README, Import).")
    try:
        live = kind.read(run.ctx, id)
        tags = kind.tags(run.ctx, id) if live is not None else None
    except ClientError as exc:
        raise ResourceError(f"cannot read {res.kind} {id}: {error_message(exc)}",
                            where=address) from None
    if live is None or tags is None:
        raise ResourceError(f"there is no {res.kind} with id {id!r}", where=address,
                            hint=f"Check the id, and the env's region ({run.settings.core.region})"
                            " and account.")
    id = live.get("id") or id  # as ngp names it (a secret's ARN, for its name)
    other = next((a for a, r in run.state.resources.items() if r.id == id and r.kind == res.kind),
                 None)
    if other:
        raise StateError(f"{res.kind} {id} is in the state already, at {other}", where=address,
                         hint=f"`ngp state mv {other} {address}` moves it.")
    owner, at = tags.get(TAG_ENV), tags.get(TAG_ADDRESS)
    if (owner and owner != env) or (at and at != address):
        shown = ", ".join(f"{k}={v}" for k, v in sorted(tags.items()) if k.startswith("ngp:"))
        raise NotOwnedError(f"{res.kind} {id} is tagged {shown}, not env {env!r} at {address}",
                            where=address,
                            hint="It belongs to another env or address: import it there, or "
                            "remove its ngp: tags by hand if it is really this one.")
    spec = {k: live[k] for k in res.spec if k in live}
    try:
        spec.update(kind.import_fields(resolve(res.spec, lambda ref: UNKNOWN), tags))
    except NgpError as exc:
        exc.where = exc.where or address
        raise
    ours = {TAG_ENV: env, TAG_ADDRESS: address, TAG_LINEAGE: run.state.lineage}
    untagged = any(tags.get(k) != v for k, v in ours.items())
    if untagged:
        spec[NGP_TAGS] = {k: tags[k] for k in ours if k in tags}
    # Only fields known before any apply (no reference to another object's output) are
    # compared here; `ngp plan` compares them all.
    want = kind.canonical(resolve(res.spec, lambda ref: UNKNOWN))
    have = kind.canonical(spec)
    replaces = tuple(sorted(f for f in kind.replace_on if f in want and f in have
                            and not has_unknown(want[f]) and want[f] != have[f]))
    with run.saving() as state:
        state.resources[address] = Recorded(res.kind, id, spec, kind.outputs_of(live),
                                            sorted(res.deps()), res.module)
    return Imported(address, res.kind, id, untagged, replaces, kind.import_warning)
