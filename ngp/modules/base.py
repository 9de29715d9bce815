"""The module registry: a module is the unit a user switches on in envs/<env>.toml."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from ngp.config import Settings
    from ngp.graph import Resource


class ModuleSettings(BaseModel):
    """Base for a module's settings table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Built:
    """What a module's build returns: its resources and its outputs (values or Refs)."""

    resources: list[Resource]
    outputs: dict[str, Any] = field(default_factory=dict)


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


MODULES: dict[str, Module] = {}


def module(
    name: str,
    *,
    summary: str,
    settings: type[ModuleSettings],
    required_env: tuple[str, ...] = (),
    needs: tuple[str, ...] = (),
) -> Callable[[Callable[[Settings], Built]], Callable[[Settings], Built]]:
    """Register a module's build function under `name`; a second registration is a bug."""

    def register(build: Callable[[Settings], Built]) -> Callable[[Settings], Built]:
        if name in MODULES:
            raise RuntimeError(f"module {name!r} is registered twice")
        MODULES[name] = Module(name, summary, settings, build, required_env, needs)
        return build

    return register
