"""Where an env's Marathon answers, and the run's clients for it: one per URL.

An app's spec carries its endpoint as an input, the ready gate's outputs that say where the
cluster's Marathon is (`endpoint_of("dcos.ready")`); a run's `Marathons` serves one client
per URL, built on first use and closed with the run. No client is ever re-pointed: a cluster
with a new address is another endpoint, with a client of its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ngp.graph import Ref
from ngp.marathon.client import Marathon, MarathonError, token_source

if TYPE_CHECKING:
    from ngp.state import State

FIELD = "marathon"  # the key of an app's spec that holds its endpoint; never sent to Marathon
GATE_KIND = "marathon.ready"
# The gate's outputs an endpoint is made of: the Marathon URL (the fixed one, or the
# cluster's through its external balancer) and the internal route to the cluster.
KEYS = ("marathon_url", "dcos_url", "internal_url", "vpc_id")

# Set on the env's manager node to its VPC's id (ngp/modules/manager.py). The masters'
# external balancer admits the admin CIDRs (and the NAT's and VPN's addresses); inside the
# VPC, ngp goes through the internal balancer, whose group admits the VPC, and never out
# through the NAT and back in (dcos-terraform gives both balancers the same listeners).
INSIDE_VPC = "NGP_INSIDE_VPC"


def marathon_url(dcos_url: str) -> str:
    return f"{dcos_url.rstrip('/')}/service/marathon"


def dcos_of(url: str) -> str:
    """The DC/OS URL a Marathon URL is reached through (where its login endpoint is)."""
    return url.rstrip("/").split("/service/marathon")[0]


def reach(found: Mapping[str, Any]) -> str:
    """The DC/OS URL this process reaches the cluster at, from a gate's spec or outputs: the
    internal balancer's inside the cluster's VPC, the external one's anywhere else."""
    internal, vpc = found.get("internal_url"), found.get("vpc_id")
    if internal and vpc and os.environ.get(INSIDE_VPC) == vpc:
        return str(internal).rstrip("/")
    return str(found["dcos_url"]).rstrip("/")


def asked_fixed(endpoint: Mapping[str, Any]) -> bool:
    """Whether the gate that gave this endpoint asked the env's fixed Marathon (the
    sandbox's, marathon_url), not the cluster's own."""
    url = str(endpoint["marathon_url"]).rstrip("/")
    return url != marathon_url(str(endpoint.get("dcos_url", "")))


def reachable(endpoint: Mapping[str, Any]) -> str:
    """The Marathon URL this process reaches an endpoint (a gate's outputs) at: a fixed
    Marathon (the sandbox's, marathon_url) as it is, the cluster's own as `reach` says."""
    if asked_fixed(endpoint):
        return str(endpoint["marathon_url"]).rstrip("/")
    return marathon_url(reach(endpoint))


def endpoint_of(gate: str) -> dict[str, Ref]:
    """An app's endpoint input: the ready gate's outputs, known once the cluster answers. The
    values are the same wherever ngp runs (the internal route is chosen when a client is)."""
    return {key: Ref(gate, key) for key in KEYS}


def recorded_endpoint(state: State) -> dict[str, Any] | None:
    """The endpoint the state's ready gate gives, if any: where its recorded apps are."""
    for rec in state.resources.values():
        if rec.kind == GATE_KIND and rec.outputs.get("marathon_url"):
            return {key: rec.outputs.get(key, "") for key in KEYS}
    return None


class Marathons:
    """A run's Marathon clients: one per URL, built on first use (from any thread), all closed
    with the run. `fixed` is the env's own Marathon where the env says (the sandbox's, or
    marathon_url); `login` its token source. Any other URL logs in through its DC/OS with
    DCOS_ACS_TOKEN, or DCOS_UID and DCOS_PASSWORD (`token_source`).

        marathons.at(spec["marathon"]).apply(app)   # the app's own endpoint
        marathons.at(None).list_apps()              # the env's fixed Marathon
    """

    def __init__(self, fixed: str | None = None,
                 login: Callable[[], str | None] | None = None, *, force: bool = False,
                 environ: Mapping[str, str] = os.environ, poll: float = 0.25) -> None:
        self.fixed = fixed.rstrip("/") if fixed else None
        self._login, self._force, self._environ, self._poll = login, force, environ, poll
        self._clients: dict[str, Marathon] = {}
        self._lock = threading.Lock()
        self._closed = False

    def client(self, url: str) -> Marathon:
        """The run's one client for the Marathon at url."""
        url = url.rstrip("/")
        with self._lock:
            if self._closed:
                raise RuntimeError("the run's Marathon clients are closed")  # a bug
            if url not in self._clients:
                login = self._login if url == self.fixed and self._login else \
                    token_source(dcos_of(url), self._environ)
                self._clients[url] = Marathon(url, login=login, force=self._force,
                                              poll=self._poll)
            return self._clients[url]

    def at(self, endpoint: Mapping[str, Any] | None) -> Marathon:
        """The client for an endpoint (None: the env's fixed Marathon). An endpoint whose
        gate asked the env's fixed Marathon is that Marathon where it is now: a sandbox
        started again serves it at another port, and a moved marathon_url moves the apps."""
        if endpoint is not None and not (self.fixed and asked_fixed(endpoint)):
            return self.client(reachable(endpoint))
        if self.fixed is None:
            raise MarathonError("the env's Marathon has no address yet",
                                hint="Turn on the dcos module and run `ngp up` (its cluster "
                                "comes first), or set marathon_url.")
        return self.client(self.fixed)

    def urls(self) -> list[str]:
        with self._lock:
            return sorted(self._clients)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
