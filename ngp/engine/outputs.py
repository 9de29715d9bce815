"""Outputs and status: the env's outputs recorded, live health, URL probes, secrets revealed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import Aws, error_message
from ngp.engine.refreshing import refresh
from ngp.engine.run import Run, phase
from ngp.errors import ResourceError
from ngp.graph import Ref, is_secret_ref, resolve
from ngp.resources import Context, get_kind
from ngp.resources.base import Health, Registers, Wanted


def record_outputs(run: Run, wanted: dict[str, Any]) -> None:
    """Record the env's outputs (values or Refs, as the plan carries them) that are known."""
    outputs: dict[str, Any] = {}
    missing = object()
    for name, value in wanted.items():
        def lookup(ref: Ref) -> Any:
            rec = run.state.resources.get(ref.address)
            return rec.outputs.get(ref.output, missing) if rec else missing

        resolved = resolve(value, lookup)
        if not _contains(resolved, missing):
            outputs[name] = resolved
    if outputs != run.state.outputs:
        with run.saving() as state:
            state.outputs = outputs


def _contains(value: Any, marker: object) -> bool:
    if value is marker:
        return True
    if isinstance(value, dict):
        return any(_contains(v, marker) for v in value.values())
    if isinstance(value, list):
        return any(_contains(v, marker) for v in value)
    return False


def status(run: Run) -> list[dict[str, Any]]:
    """Every recorded resource with its live status, judged against what its spec wants
    (`healthy`): one batched read per kind, and the calls of the kinds with a Health."""
    observed = refresh(run)
    with phase(run.reporter, "Reading live health"):
        return _status_rows(run, observed)


def _status_rows(run: Run, observed: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    members: dict[str, int] = {}  # balancer id -> instances the env puts behind it
    for address, rec in run.state.resources.items():
        kind = get_kind(rec.kind, where=address)
        if isinstance(kind, Registers):
            for balancer, count in kind.registered(rec.spec).items():
                members[balancer] = members.get(balancer, 0) + count
    rows: list[dict[str, Any]] = []
    for address, rec in sorted(run.state.resources.items()):
        live = observed.get(address)
        kind = get_kind(rec.kind, where=address)
        verdict = (kind.health(run.ctx, rec.id, Wanted(rec.spec, live, members.get(rec.id, 0)))
                   if live and isinstance(kind, Health) else None)
        shown = str(live.get("status", "present")) if live else "missing"
        rows.append({"address": address, "kind": rec.kind, "id": rec.id, "module": rec.module,
                     "status": verdict.status if verdict else shown,
                     "healthy": verdict.healthy if verdict else plainly_healthy(shown)})
    for address, pending in sorted(run.state.pending.items()):
        rows.append({"address": address, "kind": pending.kind, "id": pending.id,
                     "module": pending.module, "status": f"pending {pending.op}",
                     "healthy": False})
    return rows


def plainly_healthy(status: str) -> bool:
    """A read's status where the kind judges nothing more: gone, pending or stopped is not."""
    return not status.startswith(("missing", "pending", "stopped", "terminated",
                                  "processing"))


PROBE_TIMEOUT = 3.0


def probe_urls(outputs: dict[str, Any]) -> dict[str, str]:
    """Whether the env's web addresses answer (the DC/OS UI, the VPN, Dashboards...):
    `answers (<status>)` or `no answer (<why>)`, all asked at once, a few seconds at most."""
    import httpx

    urls = {name: value for name, value in sorted(outputs.items())
            if name.endswith("_url") and isinstance(value, str)
            and value.startswith(("http://", "https://"))}

    def ask(url: str) -> str:
        try:
            # Self-signed certificates (DC/OS, OpenVPN) still answer: reachability is the
            # question here, not trust.
            answer = httpx.get(url, timeout=PROBE_TIMEOUT, verify=False)  # noqa: S501
            return f"answers ({answer.status_code})"
        except httpx.HTTPError as exc:
            return f"no answer ({type(exc).__name__})"

    with ThreadPoolExecutor(max_workers=max(1, len(urls))) as pool:
        return dict(zip(urls, pool.map(ask, urls.values()), strict=True))


def reveal_outputs(aws: Aws, outputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs with each {"secret": ARN} replaced by the secret's value."""
    from ngp.resources.secretsmanager import reveal

    ctx = Context(aws=aws, env="", lineage="")
    revealed = {}
    for name, value in outputs.items():
        if is_secret_ref(value):
            try:
                value = reveal(ctx, value["secret"])
            except ClientError as exc:
                raise ResourceError(f"cannot read the secret: {error_message(exc)}",
                                    where=f"output {name}") from None
        revealed[name] = value
    return revealed
