"""Platform modules. NAMES is every module file, and `load` imports the ones a command needs:
an env's own, not all twelve (with their resources, Marathon's client and YAML, a quarter of
a second of every `ngp plan`). `MODULES` read from here is the complete registry, every
module imported; tests/unit/test_registry.py checks NAMES against the folder."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from ngp.modules.base import MODULES as _REGISTRY
from ngp.modules.base import Built, Module, ModuleSettings, module

NAMES = ("api_gateway", "dcos", "docker_registry", "ecr", "elk", "jenkins", "manager",
         "marathon_snapshot", "monitoring", "network", "openvpn", "routing")


def load(names: Iterable[str]) -> dict[str, Module]:
    """The named modules, each imported (and so registered) on first use. A name neither
    in NAMES nor registered is a KeyError: settings check names against NAMES first."""
    found: dict[str, Module] = {}
    for name in names:
        if name not in _REGISTRY and name in NAMES:
            importlib.import_module(f"ngp.modules.{name}")
        found[name] = _REGISTRY[name]
    return found


def __getattr__(attr: str) -> Any:
    if attr == "MODULES":  # the whole registry: `ngp modules`, init's questions, the tests
        load(NAMES)
        return _REGISTRY
    raise AttributeError(f"module 'ngp.modules' has no attribute {attr!r}")


__all__ = ["MODULES", "NAMES", "Built", "Module", "ModuleSettings", "load", "module"]
