"""Resource kinds made up for tests: no AWS behind them, registered only for the test that
uses them (see `registered`), so the registry's meta-tests never see them.

Each implements read_many, find, create, update and delete itself (trivially), so it keeps
the contract whichever of those the base class requires or defaults."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import Any

from ngp.resources.base import KINDS, Context, Field, Kind, ReadOnlyKind, kind


class Thing(Kind):
    """A made object: `name` forces a replacement, `size` changes in place."""

    name = "test.thing"
    service = "test"
    # What the tests' specs use; `name` forces a replacement (replace_on is derived).
    fields = (Field("name", replaces=True), Field("size"), Field("x"), Field("y"),
              Field("query"), Field("image"), Field("pattern"), Field("id"))
    outputs = ("id", "name")
    _ids = itertools.count(1)

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {}

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        return None

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        id = f"thing-{next(self._ids)}"
        return id, {"id": id, "name": spec.get("name")}

    def update(self, ctx: Context, id: str, old: dict[str, Any], new: dict[str, Any]) -> dict:
        return {}

    def delete(self, ctx: Context, id: str) -> None:
        return None


class OtherThing(Thing):
    """Another kind, to put at an address a Thing held."""

    name = "test.other_thing"


class Existing(ReadOnlyKind, Thing):
    """A read-only object, looked up by a query (an adopted VPC, an image)."""

    name = "test.existing"
    outputs = ("id", "arn")


class Quiet:
    """A reporter (engine.Reporter) that says nothing: for runs whose output no test reads."""

    def started(self, op): pass
    def finished(self, op, seconds): pass
    def failed(self, op, error): pass
    def still_running(self, ops): pass
    def progress(self, message): pass
    def note(self, message): pass
    def warn(self, message): pass


@contextlib.contextmanager
def registered(*classes: type[Kind]) -> Iterator[dict[str, Kind]]:
    """The classes registered as kinds for the block, and gone from the registry after."""
    made: list[str] = []
    try:
        for cls in classes:
            kind(cls)
            made.append(cls.name)
        yield {name: KINDS[name] for name in made}
    finally:
        for name in made:
            del KINDS[name]
