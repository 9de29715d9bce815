"""The module registry: a module is the unit a user switches on in envs/<env>.toml."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

if TYPE_CHECKING:
    from ngp.config import Settings
    from ngp.graph import Resource


def _cidr(value: Any) -> ipaddress.IPv4Network:
    if isinstance(value, ipaddress.IPv4Network):
        return value
    if not isinstance(value, str):
        raise ValueError("a CIDR is a string like \"10.0.0.0/16\"")
    try:
        return ipaddress.IPv4Network(value)
    except ValueError as exc:
        raise ValueError(f"not a valid IPv4 CIDR: {exc}") from None


Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_cidr)]
INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"  # t3.micro, m5.xlarge: what EC2 names
"""An IPv4 network in CIDR form; host bits set or a bad prefix are errors that say so."""


class ModuleSettings(BaseModel):
    """Base for a module's settings table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Built:
    """What a module's build returns: its resources and its outputs (values or Refs)."""

    resources: list[Resource]
    outputs: dict[str, Any] = field(default_factory=dict)
    # What a user must hear about a choice the settings made (shown with every plan).
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Module:
    name: str
    summary: str
    settings_model: type[ModuleSettings]
    build: Callable[[Settings], Built]
    # Environment variables the module cannot work without (secrets, never in files).
    required_env: tuple[str, ...] = ()
    # Modules whose resources this one references; settings validation checks they are on.
    needs: tuple[str, ...] = ()
    # It pushes apps to Marathon: the env must say where Marathon is.
    marathon: bool = False
    # It makes `<name>.agent_access`, a managed policy the cluster's agents need (the apps
    # it runs there use it); the dcos module attaches it to the agents' role.
    agent_access: bool = False
    # The purposes of the buckets it makes (Settings.bucket_name): the settings check that
    # each name is valid before any AWS call.
    buckets: tuple[str, ...] = ()


MODULES: dict[str, Module] = {}


def module(
    name: str,
    *,
    summary: str,
    settings: type[ModuleSettings],
    required_env: tuple[str, ...] = (),
    needs: tuple[str, ...] = (),
    marathon: bool = False,
    agent_access: bool = False,
    buckets: tuple[str, ...] = (),
) -> Callable[[Callable[[Settings], Built]], Callable[[Settings], Built]]:
    """Register a module's build function under `name`; a second registration is a bug."""

    def register(build: Callable[[Settings], Built]) -> Callable[[Settings], Built]:
        if name in MODULES:
            raise RuntimeError(f"module {name!r} is registered twice")
        MODULES[name] = Module(name, summary, settings, build, required_env, needs, marathon,
                               agent_access, buckets)
        return build

    return register
