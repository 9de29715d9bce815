"""What the platform's Marathon apps share: their id prefix and DC/OS's naming conventions."""

from __future__ import annotations

PREFIX = "/platform"
L4LB = "marathon.l4lb.thisdcos.directory"  # VIP_0 "/name:port" answers at name.<L4LB>:port


def app_id(name: str) -> str:
    return f"{PREFIX}/{name}"


def vip_host(name: str) -> str:
    return f"{name}.{L4LB}"


def mesos_http_check(path: str, grace: int = 300) -> dict:
    return {"protocol": "MESOS_HTTP", "path": path, "portIndex": 0,
            "gracePeriodSeconds": grace, "intervalSeconds": 30, "timeoutSeconds": 10,
            "maxConsecutiveFailures": 3}
