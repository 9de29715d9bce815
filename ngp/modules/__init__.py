"""Platform modules. Every module file is imported here, explicitly, so the registry is
complete whatever imports what."""

from ngp.modules import (  # noqa: F401
    api_gateway,
    dcos,
    docker_registry,
    ecr,
    elk,
    jenkins,
    manager,
    marathon_snapshot,
    monitoring,
    network,
    openvpn,
    routing,
)
from ngp.modules.base import MODULES, Built, Module, ModuleSettings, module

__all__ = ["MODULES", "Built", "Module", "ModuleSettings", "module"]
