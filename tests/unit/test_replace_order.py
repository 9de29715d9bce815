"""A replacement that cannot be completed must not delete first (issue 19, item 3): a value
unknown only because its object is still to be made (a key pair's name, which its spec
says) forces nothing, and a replaced object's old half is deleted only once what its new
half needs is made. Over made-up kinds that keep their objects in memory."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from ngp import engine
from ngp.errors import ApplyError, NgpError
from ngp.graph import Ref, Resource
from ngp.plan import Action
from ngp.resources.base import NAMED, Context, Field
from tests.fake_kinds import Thing, registered
from tests.unit.test_engine_fake_kinds import make_run

_ids = itertools.count(1)


class Stored(Thing):
    """An object that is there until deleted: read back as created."""

    name = "test.stored"
    fields = (Field("name", replaces=True), Field("key", replaces=True),
              Field("image", replaces=True))
    objects: dict[str, dict[str, Any]] = {}

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        return {id: self.objects[id] for id in ids if id in self.objects}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        id = f"vm-{next(_ids)}"
        self.objects[id] = {**spec, "id": id}
        return id, {"id": id, "name": spec["name"]}

    def delete(self, ctx: Context, id: str) -> None:
        self.objects.pop(id, None)


class KeyPair(Stored):
    """A key pair: its id is the name it is given, which is unique (Duplicate otherwise)."""

    name = "test.key_pair"
    fields = (Field("name", replaces=True), Field("material", replaces=True))
    echoes = NAMED

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        if spec["name"] in self.objects:
            raise NgpError(f"InvalidKeyPair.Duplicate: {spec['name']} already exists")
        self.objects[spec["name"]] = {**spec, "id": spec["name"]}
        return spec["name"], {"id": spec["name"], "name": spec["name"]}


@pytest.fixture(autouse=True)
def kinds():
    Stored.objects = {}
    KeyPair.objects = {}
    with registered(Stored, KeyPair):
        yield


def graph(image: str = "img-1", material: str = "k1") -> list[Resource]:
    return [Resource("key", KeyPair.name, {"name": "ngp-t", "material": material}),
            *(Resource(f"vm[{i}]", Stored.name, {"name": f"vm{i}", "image": image,
                                                 "key": Ref("key", "name")})
              for i in range(3))]


def up(tmp_path, resources: list[Resource]) -> engine.Summary:
    run = make_run(tmp_path, resources)
    return engine.apply(run, engine.plan(run))


def lose_the_keys_line(tmp_path) -> None:
    path = tmp_path / "state" / "t.json"
    state = json.loads(path.read_text())
    del state["resources"]["key"]
    path.write_text(json.dumps(state))


def planned(tmp_path, resources: list[Resource]) -> dict[str, Action]:
    return {c.address: c.action for c in engine.plan(make_run(tmp_path, resources)).changes}


def test_a_key_pair_still_to_be_made_does_not_replace_the_machines_that_name_it(tmp_path):
    engine.check(up(tmp_path, graph()))
    lose_the_keys_line(tmp_path)
    # Its name is its spec's: known before it is made, and the machines' is the same.
    assert planned(tmp_path, graph()) == {"key": Action.CREATE, "vm[0]": Action.NOOP,
                                          "vm[1]": Action.NOOP, "vm[2]": Action.NOOP}
    machines = set(Stored.objects)
    with pytest.raises(ApplyError, match="Duplicate"):
        engine.check(up(tmp_path, graph()))
    assert set(Stored.objects) == machines  # all three still there


def test_a_replacement_whose_new_input_fails_keeps_its_old_half(tmp_path):
    engine.check(up(tmp_path, graph()))
    lose_the_keys_line(tmp_path)
    # A new image replaces the machines; the key pair they need next cannot be made.
    assert planned(tmp_path, graph(image="img-2")) == {
        "key": Action.CREATE, "vm[0]": Action.REPLACE, "vm[1]": Action.REPLACE,
        "vm[2]": Action.REPLACE}
    machines = set(Stored.objects)
    summary = up(tmp_path, graph(image="img-2"))
    assert list(summary.failures) == ["key"]
    assert set(Stored.objects) == machines  # not deleted: nothing could take their place
    state = json.loads((tmp_path / "state" / "t.json").read_text())
    assert {state["resources"][f"vm[{i}]"]["id"] for i in range(3)} == machines


def test_replacing_an_input_and_what_needs_it_still_deletes_dependents_first(tmp_path):
    engine.check(up(tmp_path, graph()))
    # A new key material replaces the key pair (same name: the old one must go first), and
    # the machines with it (their key is the new pair's, known only once it is made).
    assert planned(tmp_path, graph(material="k2")) == {
        "key": Action.REPLACE, "vm[0]": Action.REPLACE, "vm[1]": Action.REPLACE,
        "vm[2]": Action.REPLACE}
    summary = up(tmp_path, graph(material="k2"))
    engine.check(summary)
    assert summary.done["replaced"] == 4
    assert KeyPair.objects["ngp-t"]["material"] == "k2" and len(Stored.objects) == 3
    assert planned(tmp_path, graph(material="k2")) == dict.fromkeys(
        ["key", "vm[0]", "vm[1]", "vm[2]"], Action.NOOP)
