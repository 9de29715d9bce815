"""`marathon.ready`: the gate between a cluster's machines and the apps that run on it.

A DC/OS cluster answers long after its machines run (the bootstrap node generates the
install, masters elect a leader, Admin Router starts): every Marathon app of the env
depends on this gate, so none is pushed to a cluster that cannot take it.
"""

from __future__ import annotations

from typing import Any

from ngp.aws import wait_until
from ngp.marathon.app import marathons_of
from ngp.marathon.endpoints import marathon_url, reach
from ngp.resources.base import Context, Field, Kind, kind

READY_TIMEOUT = 1800.0  # a real install takes 10-20 minutes after the machines run


def dcos_version(dcos_url: str) -> str | None:
    """DC/OS's version from Admin Router's public metadata, or None while it does not answer."""
    import httpx  # here: every run loads this kind, few talk to a cluster

    try:
        response = httpx.get(f"{dcos_url.rstrip('/')}/dcos-metadata/dcos-version.json",
                             timeout=10)
        if response.status_code == 200:
            return str(response.json().get("version", "unknown"))
    except (httpx.HTTPError, ValueError):
        pass
    return None


@kind
class Ready(Kind):
    """Waits, with a bounded timeout, until a DC/OS cluster answers: Admin Router (its
    public /dcos-metadata/dcos-version.json), then Marathon's /v2/info through it. Nothing
    is created: the id is the cluster's URL, and a later read makes no call.

    spec: {"dcos_url": "http://ngp-masters-dev-1234.us-east-1.elb.amazonaws.com",
           "internal_url": "http://internal-ngp-masters-int-dev-5678...elb.amazonaws.com",
           "vpc_id": "vpc-0abc...", "timeout": 1800}
    Inside vpc_id ($NGP_INSIDE_VPC, the manager node) the internal URL is asked, elsewhere
    dcos_url. Where the env's Marathon is fixed (the sandbox's, or marathon_url) only it is
    asked. outputs: id, dcos_url, internal_url, vpc_id, marathon_url (the fixed Marathon's, or
    dcos_url's), dcos_version, marathon_version; the apps' endpoint is made of the first four
    (ngp.marathon.endpoints).
    """

    name = "marathon.ready"
    typical_seconds, typical_delete_seconds = 600.0, 0.0
    only_waits = True
    not_imported = "it makes nothing, it waits for the cluster: there is nothing to import"
    service = "marathon"
    fields = (Field("dcos_url", replaces=True), Field("internal_url"), Field("vpc_id"),
              Field("timeout"))
    outputs = ("id", "dcos_url", "internal_url", "vpc_id", "marathon_url", "dcos_version",
               "marathon_version")

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        # A no-op plan must not wait on the cluster: what was recorded stands.
        return {id: {"id": id, "dcos_url": id, "status": "answered"} for id in ids}

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        return None  # nothing was made: an interrupted wait waits again

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        public, url = spec["dcos_url"].rstrip("/"), reach(spec)
        marathons = marathons_of(ctx)
        fixed = marathons.fixed  # the env's own Marathon, if it has one: only it is asked
        marathon = marathons.client(fixed or marathon_url(url))
        seen: dict[str, str] = {}

        def answered() -> dict[str, Any] | None:
            if not fixed and "dcos" not in seen:
                version = dcos_version(url)
                if version is None:
                    return None
                seen["dcos"] = version
            return marathon.info()

        timeout = float(spec.get("timeout", READY_TIMEOUT))
        info = wait_until(
            answered, what=f"the cluster at {url} to answer (Admin Router, then Marathon)",
            timeout=timeout, max_delay=15.0,
            hint="Look at the bootstrap node's /var/log/ngp-dcos.log and a master's (ssh "
            "through the VPN), then run `ngp up` again: it waits again, nothing is redone.")
        return public, {
            "id": public, "dcos_url": public, "internal_url": spec.get("internal_url", ""),
            "vpc_id": spec.get("vpc_id", ""),
            "marathon_url": fixed or marathon_url(public),
            "dcos_version": seen.get("dcos", ""), "marathon_version": str(info.get("version", ""))}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        return self.create(ctx, "", new)[1]  # only the timeout changed: wait again

    def delete(self, ctx: Context, id: str) -> None:
        """Nothing to delete: the gate only waited."""
