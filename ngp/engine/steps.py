"""One step of an apply: an intent saved before each mutating call, the result after."""

from __future__ import annotations

import contextlib
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ngp.aws import error_code, error_message
from ngp.engine.run import Run
from ngp.engine.schedule import Op
from ngp.errors import NgpError, NotOwnedError, ResourceError
from ngp.graph import Ref, resolve
from ngp.plan import Action, Change
from ngp.resources import get_kind
from ngp.resources.base import NGP_TAGS, Importable, ReadOnlyKind
from ngp.state import Pending, Recorded, now


def _resolved_spec(run: Run, change: Change) -> dict[str, Any]:
    """The change's spec with every Ref replaced by the output its step waited for."""
    def lookup(ref: Ref) -> Any:
        rec = run.state.resources.get(ref.address)
        if rec is None or ref.output not in rec.outputs:
            raise RuntimeError(f"{change.address}: {ref} is not known yet (a scheduling bug)")
        return rec.outputs[ref.output]

    with run._lock:
        return get_kind(change.kind).canonical(resolve(change.spec, lookup))


def run_step(run: Run, op: Op) -> list[str]:
    """One step in a worker thread; returns the AWS calls it made."""
    with run.aws.recording() as calls:
        _step(run, op)
    return calls


def _step(run: Run, op: Op) -> None:
    """One step, saved before (intent) and after (result). AWS errors become ResourceErrors
    naming the address; anything else is a bug and keeps its traceback."""
    try:
        if op.phase == "delete":
            _delete(run, op)
        else:
            _apply(run, op)
    except ClientError as exc:
        raise ResourceError(f"{op.verb} {op.change.kind} failed: {error_message(exc)}",
                            where=op.address,
                            hint="Fix the cause and run the command again; everything else "
                            "done so far is saved.") from None
    except BotoCoreError as exc:
        raise ResourceError(f"{op.verb} failed: {exc}", where=op.address,
                            hint="Check the network and the endpoint, then run the command "
                            "again.") from None
    except NgpError as exc:
        if not exc.where:
            exc.where = op.address
        raise


def _apply(run: Run, op: Op) -> None:
    address, change = op.address, op.change
    kind = get_kind(change.kind)
    spec = _resolved_spec(run, change)
    deps, module = list(change.deps), change.module
    if change.action == Action.READ and not kind.read_only:
        # --refresh-only: the state takes what the plan saw in AWS; no AWS call.
        rec = run.state.resources[address]
        with run.saving() as state:
            state.resources[address] = Recorded(rec.kind, rec.id, spec, {
                **rec.outputs, **kind.outputs_of(change.before)}, rec.deps, rec.module)
        return
    if change.action == Action.READ:
        assert isinstance(kind, ReadOnlyKind)
        live = change.before or kind.lookup(run.ctx, spec)
        if live is None:
            raise ResourceError(f"{change.kind} {spec} matches nothing", where=address)
        with run.saving() as state:
            state.resources[address] = Recorded(change.kind, live["id"], spec,
                                                kind.outputs_of(live), deps, module)
        return
    if change.action == Action.ADOPT:
        # The object is there (tagged for this env at this address): recorded, then changed
        # where the plan saw it differ; no intent is needed, nothing is made.
        id, live = change.adopted["id"], change.adopted
        outputs = kind.outputs_of(live)
        forced = any(f.forces_replacement for f in change.fields)
        if change.fields and not forced:
            outputs = {**outputs, **kind.update(run.ctx, id, change.before, spec)}
        # A shown field that forces a replacement: recorded as AWS has it, so the next plan
        # replaces it; else the object now matches the spec.
        known = kind.canonical({**(spec if kind.created_whole else {}), **{
            k: live[k] for k in spec if k in live}}) if forced else spec
        with run.saving() as state:
            state.resources[address] = Recorded(change.kind, id, known, outputs, deps, module)
        return
    if change.action == Action.UPDATE:
        rec = run.state.resources[address]
        before = {k: v for k, v in change.before.items() if k != NGP_TAGS}
        outputs = {}
        if any(f.name == NGP_TAGS for f in change.fields):  # an imported object's first up
            # Tagged first: ngp's policy lets it change only what is tagged for its env
            # (EC2's aws:ResourceTag/ngp:env condition, ngp/permissions.py; how AWS judges
            # it: https://docs.aws.amazon.com/IAM/latest/UserGuide/access_tags.html).
            assert isinstance(kind, Importable)  # only importable kinds are imported
            kind.tag(run.ctx, rec.id, {**run.ctx.tags(address), **kind.spec_tags(spec)})
        if any(f.name != NGP_TAGS for f in change.fields):
            outputs = kind.update(run.ctx, rec.id, before, spec)
        with run.saving() as state:
            state.resources[address] = Recorded(change.kind, rec.id, spec,
                                                {**rec.outputs, **outputs}, deps, module)
        return
    with run.saving() as state:
        state.pending[address] = Pending("create", change.kind, now(), spec, None, deps,
                                         module)
    try:
        id, outputs = _create(run, kind, address, spec)
    except NotOwnedError:
        # The name is another env's (or nobody's): nothing was made, so no intent is left to
        # settle, and the env can still go down.
        with run.saving() as state:
            state.pending.pop(address, None)
        raise
    with run.saving() as state:
        state.resources[address] = Recorded(change.kind, id, spec, outputs, deps, module)
        del state.pending[address]


# What AWS answers a create whose name is taken in the account and region (IAM, Secrets
# Manager, CloudWatch Logs and OpenSearch, ECR, Classic ELB, Auto Scaling, Lambda, EC2 key
# pairs, launch templates and security groups, S3 outside us-east-1): the kind's find then
# says whose the object is. One of this env's own is adopted by the next run's settling.
ALREADY_EXISTS = frozenset({
    "EntityAlreadyExists", "ResourceExistsException", "ResourceAlreadyExistsException",
    "RepositoryAlreadyExistsException", "DuplicateLoadBalancerName",
    "DuplicateAccessPointName", "AlreadyExists", "ResourceConflictException",
    "InvalidKeyPair.Duplicate", "InvalidLaunchTemplateName.AlreadyExistsException",
    "InvalidGroup.Duplicate", "BucketAlreadyOwnedByYou"})


def _create(run: Run, kind: Any, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
    try:
        return kind.create(run.ctx, address, spec)
    except ClientError as exc:
        if error_code(exc) in ALREADY_EXISTS:
            with contextlib.suppress(ClientError):  # else the create's own error says more
                kind.find(run.ctx, address, spec)  # NotOwnedError if it is not this env's
        raise


def _delete(run: Run, op: Op) -> None:
    address = op.address
    rec = run.state.resources.get(address)
    if rec is None and op.change.action == Action.DELETE and op.change.id:
        # Tagged for the env, never in the state (ngp down): deleted by its id.
        get_kind(op.change.kind).delete(run.ctx, op.change.id)
        return
    if rec is None:
        return
    kind = get_kind(rec.kind)
    if kind.read_only or op.change.action == Action.FORGET:  # leaves the state, not AWS
        with run.saving() as state:
            del state.resources[address]
        return
    with run.saving() as state:
        state.pending[address] = Pending("delete", rec.kind, now(), id=rec.id, deps=rec.deps,
                                         module=rec.module)
    if NGP_TAGS in rec.spec and isinstance(kind, Importable):
        # Imported and not yet tagged: ngp's policy deletes only what is tagged for its env.
        kind.tag(run.ctx, rec.id, run.ctx.tags(address))
    kind.delete(run.ctx, rec.id)
    with run.saving() as state:
        del state.resources[address]
        del state.pending[address]
