"""An object must be what the state says it is: the rules the refresh applies to what it read.

Every object ngp makes carries its env and address (tags `ngp:env`, `ngp:address`; a
Marathon app, labels NGP_ENV, NGP_ADDRESS). A damaged state can point an address at the
wrong object: another address's (then a plan would change or delete it as if it were this
one), or another env's (a state file copied in). Where the batched read's own answer carries
the tags (kinds put them under OWNER_TAGS: no call more), they are compared with the state
before anything is planned, and a mismatch stops the command (plan, up, down alike):

- a state whose tagged objects all carry another env's tag is refused as a whole;
- one object tagged for another env, or for another address the state records, is refused
  in one line naming the address, the id and its tags.

An object with no ngp tags at all (removed by hand) is taken as the state says. A recorded
id that is gone is looked for by the kind's `find` (its tags or its name) before a create is
planned: an object found there under another id is refused too, never duplicated.
"""

from __future__ import annotations

import os
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_message
from ngp.engine.run import Run
from ngp.errors import ResourceError, StateError
from ngp.marathon.app import LABEL_ADDRESS, LABEL_ENV
from ngp.resources import get_kind
from ngp.resources.base import OWNER_TAGS, TAG_ADDRESS, TAG_ENV

Tags = dict[str, str]


class WrongObjectError(StateError):
    """The state records, at an address, an object that is another address's or env's."""


def take_tags(observed: dict[str, dict[str, Any] | None]) -> dict[str, Tags]:
    """The ngp tags each live object was read with, taken out of it (the planner never sees
    them): address -> tags, for the objects whose read gave them."""
    tags: dict[str, Tags] = {}
    for address, live in observed.items():
        if live is not None and OWNER_TAGS in live:
            tags[address] = live.pop(OWNER_TAGS)
    return tags


def shown(tags: Tags) -> str:
    """The tags as the refusal names them: `tags ngp:env=a, ngp:address=b`."""
    word = "labels" if any(k.startswith("NGP_") for k in tags) else "tags"
    return f"{word} " + ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def refusal(env: str, where: str, ids: dict[str, str],
            tags: dict[str, Tags]) -> WrongObjectError | None:
    """What is wrong with a state whose recorded objects (address -> id) were read with these
    tags (address -> tags), or None. Pure: the rules, without AWS."""
    foreign, misplaced, tagged = [], [], 0
    for address in sorted(tags.keys() & ids.keys()):
        have = tags[address]
        owner = have.get(TAG_ENV, have.get(LABEL_ENV))
        if owner is None:
            continue  # untagged by hand: nothing says it is not ours
        tagged += 1
        said = have.get(TAG_ADDRESS, have.get(LABEL_ADDRESS))
        if owner != env:
            foreign.append((address, owner))
        # Another address's object only if the state records that address elsewhere: an
        # object whose tag names an address the state no longer has was moved (`ngp state
        # mv`; the next up rewrites an EC2 object's tag), and an empty label says nothing.
        elif said and said != address and said in ids:
            misplaced.append((address, said))
    if foreign and len(foreign) == tagged:
        envs = sorted({owner for _, owner in foreign})
        address = foreign[0][0]
        return WrongObjectError(
            f"its objects are tagged for env {' and '.join(map(repr, envs))}, not env "
            f"{env!r} ({len(foreign)} of {tagged} read; e.g. {address} is {ids[address]}, "
            f"{shown(tags[address])})", where=where,
            hint="It is another env's state: nothing was changed. Put this env's own state "
            "back (its .backup, or `ngp state pull`/`restore` for an S3 state).")
    if foreign:
        address, owner = foreign[0]
        return _wrong(address, ids[address], tags[address], f"env {owner!r}, not env {env!r}",
                      len(foreign) + len(misplaced), where)
    if misplaced:
        address, said = misplaced[0]
        return _wrong(address, ids[address], tags[address], f"address {said}",
                      len(misplaced), where)
    return None


def _wrong(address: str, id: str, tags: Tags, what: str, count: int,
           where: str) -> WrongObjectError:
    more = f" ({count - 1} more address(es) too)" if count > 1 else ""
    return WrongObjectError(
        f"the state's id {id} is another object: its {shown(tags)} name {what}{more}",
        where=address,
        hint=f"Nothing was changed. Put this address's own id back in {where} (its .backup "
        "has it), or remove the address's line there.")


def check(run: Run, observed: dict[str, dict[str, Any] | None]) -> None:
    """The refresh's hook: refuse a state that points at objects not its own (the tags the
    reads gave), then look for a gone object at its address before a create is planned."""
    where = _where(run)
    ids = {a: r.id for a, r in run.state.resources.items()
           if not get_kind(r.kind, where=a).read_only}
    tags = take_tags(observed)
    wrong = refusal(run.settings.env, where, ids, tags)
    if wrong is not None:
        raise wrong
    for address in sorted(ids):
        if address in observed and observed[address] is None:
            _check_gone(run, address, where)


def _check_gone(run: Run, address: str, where: str) -> None:
    """A recorded object that is gone is created again only if nothing is found at its
    address (by its tags, or its name): one call, only for what is gone."""
    rec = run.state.resources[address]
    try:
        found = get_kind(rec.kind, where=address).find(run.ctx, address, rec.spec)
    except ClientError as exc:
        raise ResourceError(f"cannot look for it: {error_message(exc)}", where=address,
                            hint="Check the credentials' permissions.") from None
    if found is None or found[0] == rec.id:
        return
    said = found[1].get(OWNER_TAGS) or {}
    if said.get(TAG_ADDRESS, said.get(LABEL_ADDRESS)) != address:
        return  # not tagged as this address's (an association, a record): a create meets it
    raise WrongObjectError(
        f"the state's id {rec.id} is gone, but {found[0]} is this address's object (its "
        f"{shown(said)}), so it is not created again", where=address,
        hint=f"Nothing was changed. If {found[0]} is the one, put its id in {where} for this "
        "address; if not, delete it. Then run the command again.")


def _where(run: Run) -> str:
    """The state's place as a user names it: state/<env>.json relative to here, or s3://."""
    where = run.store.where
    if os.path.isabs(where):
        relative = os.path.relpath(where)
        return where if relative.startswith("..") else relative
    return where
