"""PerParentKind: ids are parent/child, one call per parent, a parent gone takes its
children with it, and find looks among the spec's parent's children."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from ngp.resources.base import Context, Field, PerParentKind

CTX = Context(aws=None, env="t", lineage="l")  # type: ignore[arg-type]  # never called


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "List")


class Child(PerParentKind):
    name = "test.child"
    service = "test"
    fields = (Field("parent", replaces=True), Field("child", replaces=True))
    parent_field, child_field, parent_gone = "parent", "child", frozenset({"NotFound"})

    def __init__(self, live: dict[str, list[str]], failing: dict[str, str]) -> None:
        self.live, self.failing, self.calls = live, failing, []

    def read_children(self, ctx: Context, parent: str) -> dict[str, dict[str, Any]]:
        self.calls.append(parent)
        if parent in self.failing:
            raise client_error(self.failing[parent])
        return {c: {"id": f"{parent}/{c}", "parent": parent, "child": c}
                for c in self.live[parent]}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        raise AssertionError

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        raise AssertionError

    def delete(self, ctx: Context, id: str) -> None:
        raise AssertionError


def test_one_call_per_parent_and_a_gone_parent_takes_its_children():
    kind = Child({"fn-a": ["s1", "s2", "other"], "fn-b": ["s3"]}, {"fn-gone": "NotFound"})
    found = kind.read_many(CTX, ["fn-a/s1", "fn-b/s3", "fn-a/s2", "fn-gone/s4", "fn-b/gone"])
    assert sorted(found) == ["fn-a/s1", "fn-a/s2", "fn-b/s3"]  # not fn-a/other: not asked
    assert found["fn-a/s2"] == {"id": "fn-a/s2", "parent": "fn-a", "child": "s2"}
    assert sorted(kind.calls) == ["fn-a", "fn-b", "fn-gone"]  # once each
    assert kind.read(CTX, "fn-gone/s4") is None


def test_no_ids_no_call_and_another_error_is_raised():
    kind = Child({}, {"fn": "AccessDenied"})
    assert kind.read_many(CTX, []) == {} and kind.calls == []
    with pytest.raises(ClientError):
        kind.read_many(CTX, ["fn/s"])


def test_the_child_is_after_the_last_slash():
    assert Child.split_id("arn:aws:x/parent/child") == ("arn:aws:x/parent", "child")


def test_find_looks_among_the_specs_parents_children():
    kind = Child({"fn-a": ["s1"]}, {"fn-gone": "NotFound"})
    assert kind.find(CTX, "m.p", {"parent": "fn-a", "child": "s1"}) == (
        "fn-a/s1", {"id": "fn-a/s1", "parent": "fn-a", "child": "s1"})
    assert kind.find(CTX, "m.p", {"parent": "fn-a", "child": "s9"}) is None
    assert kind.find(CTX, "m.p", {"parent": "fn-gone", "child": "s1"}) is None
