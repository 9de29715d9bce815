"""Platform modules. Every module file is imported here, explicitly, so the registry is
complete whatever imports what."""

from ngp.modules import manager, network, openvpn  # noqa: F401
from ngp.modules.base import MODULES, Built, Module, ModuleSettings, module

__all__ = ["MODULES", "Built", "Module", "ModuleSettings", "module"]
