"""The registry meta-test: every registered kind keeps the contract, and every module gives
each kind only the fields it declares (so replace_on and the set fields mean what they say)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from ngp.config import Project
from ngp.engine import build_desired
from ngp.modules import MODULES, NAMES, base
from ngp.resources import KINDS
from ngp.resources.base import (
    REQUIRED,
    Context,
    Field,
    Health,
    Kind,
    ReadOnlyKind,
    Registers,
    kind,
)
from tests.homes import REPO

ENVIRON = {var: "x" for module in MODULES.values() for var in module.required_env}
SHIPPED = Project(REPO).env_names()


@pytest.fixture(scope="module")
def spec_keys() -> dict[str, dict[str, set[str]]]:
    """kind -> spec key -> the addresses giving it, over every shipped env's graph."""
    found: dict[str, dict[str, set[str]]] = {}
    for env in SHIPPED:
        for address, res in build_desired(Project(REPO).load(env, ENVIRON)).graph \
                .resources.items():
            for key in res.spec:
                found.setdefault(res.kind, {}).setdefault(key, set()).add(f"{env}: {address}")
    return found


def test_names_are_every_module_file():
    # Settings import only the env's modules, found by NAMES: a module file missing from it
    # would be unknown to every env.
    for path in (REPO / "ngp" / "modules").glob("*.py"):
        importlib.import_module(f"ngp.modules.{path.stem}")
    assert sorted(base.MODULES) == sorted(NAMES) == sorted(MODULES)


def test_the_shipped_envs_use_every_module():
    used = {m for env in SHIPPED for m in Project(REPO).load(env, ENVIRON).modules}
    assert used == set(MODULES)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_implements_the_required_methods_itself(name):
    cls = type(KINDS[name])
    for method in REQUIRED:
        impl = getattr(cls, method)
        assert not getattr(impl, "__isabstractmethod__", False), f"{name}: {method}"
        assert impl is not getattr(Kind, method), f"{name}: {method} is the contract's"
    assert not cls.__abstractmethods__, name


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_declares_its_fields_and_replace_on_and_sets_are_among_them(name):
    k = KINDS[name]
    assert k.fields and all(isinstance(f, Field) for f in k.fields), name
    names = [f.name for f in k.fields]
    assert len(names) == len(set(names)), f"{name} declares a field twice"
    assert k.replace_on <= k.field_names, f"{name}: {sorted(k.replace_on - k.field_names)}"
    assert k.set_fields <= k.field_names, f"{name}: {sorted(k.set_fields - k.field_names)}"
    assert all(f.by is None or f.set for f in k.fields), f"{name}: `by` orders sets only"
    # An echoed output is one of its outputs, said by one of its fields.
    assert set(k.echoes) <= set(k.outputs), f"{name}: echoes {sorted(k.echoes)}"
    assert set(k.echoes.values()) <= k.field_names, f"{name}: echoes {k.echoes}"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_capabilities_are_declared_not_overridden(name):
    k = KINDS[name]
    assert k.read_only == isinstance(k, ReadOnlyKind), name
    # The engine asks only a Health for health and only a ReadOnlyKind to look up; a method
    # of that name on any other kind would never be called.
    if hasattr(k, "health"):
        assert isinstance(k, Health), f"{name} reports health without being a Health"
    if hasattr(k, "registered"):
        assert isinstance(k, Registers), f"{name} registers without being a Registers"
    if hasattr(k, "lookup"):
        assert isinstance(k, ReadOnlyKind), f"{name} looks up without being read-only"


def test_every_spec_key_a_module_gives_is_a_declared_field(spec_keys):
    undeclared = {f"{name}.{key} (from {sorted(where)[0]})"
                  for name, keys in spec_keys.items() for key, where in keys.items()
                  if key not in KINDS[name].field_names}
    assert not undeclared, sorted(undeclared)


def test_the_graphs_use_kinds_that_exist(spec_keys):
    assert set(spec_keys) <= set(KINDS)


def test_canonical_sorts_declared_sets_whatever_the_order():
    k = KINDS["elb.load_balancer"]
    one = {"name": "lb", "subnets": ["s-2", "s-1"], "listeners": [
        {"protocol": "tcp", "port": 443, "instance_protocol": "tcp", "instance_port": 443},
        {"protocol": "TCP", "port": 80, "instance_protocol": "TCP", "instance_port": 80}]}
    two = {**one, "subnets": ["s-1", "s-2"], "listeners": one["listeners"][::-1]}
    assert k.canonical(one) == k.canonical(two)
    assert [item["port"] for item in k.canonical(one)["listeners"]] == [80, 443]
    assert k.canonical(one)["subnets"] == ["s-1", "s-2"]


# -- what the registry refuses, at import time ------------------------------------------------

class _Complete(Kind):
    name = "test.complete"
    service = "test"
    fields = (Field("name", replaces=True),)

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {}

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        return None

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        return "id", {}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        return {}

    def delete(self, ctx: Context, id: str) -> None:
        return None


@pytest.mark.parametrize("method", REQUIRED)
def test_a_kind_missing_a_required_method_is_refused_naming_it(method):
    own = {m: getattr(_Complete, m) for m in REQUIRED if m != method}
    broken = type("Broken", (Kind,), {"name": "test.broken", "service": "test",
                                       "fields": (Field("name"),), **own})
    with pytest.raises(RuntimeError, match=rf"'test.broken'.*does not implement {method}\(\)"):
        kind(broken)
    assert "test.broken" not in KINDS


def test_a_hand_written_replace_on_or_missing_fields_is_refused():
    hand = type("Hand", (_Complete,), {"name": "test.hand", "replace_on": frozenset({"x"})})
    with pytest.raises(RuntimeError, match="sets replace_on"):
        kind(hand)
    bare = type("Bare", (_Complete,), {"name": "test.bare", "fields": ["name"]})
    with pytest.raises(RuntimeError, match="does not declare its spec's fields"):
        kind(bare)
    ro = type("Ro", (_Complete,), {"name": "test.ro", "read_only": True})
    with pytest.raises(RuntimeError, match="read_only but not a ReadOnlyKind"):
        kind(ro)
    assert not {"test.hand", "test.bare", "test.ro"} & KINDS.keys()
