"""Settling the intents an interrupted run left: adopt what it created, forget what it deleted."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ngp.aws import error_message
from ngp.engine.run import Run
from ngp.errors import NotOwnedError, ResourceError
from ngp.resources import get_kind
from ngp.state import Recorded


def settle_pending(run: Run) -> None:
    """Resolve the intents a killed run left: adopt what it created, forget what it deleted."""
    for address, pending in sorted(run.state.pending.items()):
        kind = get_kind(pending.kind)
        try:
            if pending.op == "create":
                try:
                    found = kind.find(run.ctx, address, pending.spec)
                except NotOwnedError:
                    # The name is another env's (or nobody's): this create made nothing, and
                    # the next create says so; `ngp down` is not held up by it.
                    found = None
                taken = {(rec.kind, rec.id): a for a, rec in run.state.resources.items()}
                if found and (pending.kind, found[0]) in taken:
                    # Never record one object under two addresses: that is a kind's bug.
                    raise ResourceError(f"{pending.kind}.find returned {found[0]}, which is "
                                        f"already {taken[pending.kind, found[0]]}",
                                        where=address)
                with run.saving() as state:
                    if found:
                        id, live = found
                        # What a single create call set is known; anything else the next
                        # plan re-applies.
                        spec = pending.spec if kind.created_whole else {}
                        state.resources[address] = Recorded(
                            pending.kind, id, spec, kind.outputs_of(live), pending.deps,
                            pending.module)
                        run.reporter.note(f"{address}: adopted {id}, created by an "
                                          "interrupted run")
                    del state.pending[address]
            else:
                gone = pending.id is None or kind.read(run.ctx, pending.id) is None
                with run.saving() as state:
                    if gone:
                        state.resources.pop(address, None)
                    del state.pending[address]
        except ClientError as exc:
            raise ResourceError(f"cannot settle an interrupted {pending.op}: "
                                f"{error_message(exc)}", where=address) from None
