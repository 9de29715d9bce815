"""`ngp state rm` and `mv` (ngp/state_moves.py: remove, rename, edit), and the plan an
imported object gets (ngp.plan with a recorded NGP_TAGS): no AWS but the strict S3 one."""

from __future__ import annotations

import json
import threading

import pytest

from ngp import state_moves
from ngp.engine.importing import suggestion
from ngp.errors import LockError, StateError
from ngp.graph import Graph, Resource
from ngp.plan import Action, make_plan
from ngp.resources.base import NGP_TAGS, TAG_ADDRESS, TAG_ENV, TAG_LINEAGE
from ngp.state import LocalStore, Pending, Recorded, State
from ngp.state_s3 import S3Lock, S3Store

W = "state/dev.json"


def network() -> State:
    """vpc <- subnet <- instance, and a key pair nothing depends on."""
    state = State(env="dev")
    state.resources["network.vpc"] = Recorded("ec2.vpc", "vpc-1", {"cidr": "10/16"},
                                              {"id": "vpc-1"}, [], "network")
    state.resources["network.subnet[a]"] = Recorded("ec2.subnet", "subnet-1", {},
                                                    {"id": "subnet-1"}, ["network.vpc"],
                                                    "network")
    state.resources["jenkins.box"] = Recorded("ec2.instance", "i-1", {}, {"id": "i-1"},
                                              ["network.subnet[a]"], "jenkins")
    state.resources["network.key_pair"] = Recorded("ec2.key_pair", "k", {}, {"id": "k"}, [],
                                                   "network")
    return state


# -- rm ---------------------------------------------------------------------------------------

def test_rm_forgets_a_leaf():
    state = network()
    assert state_moves.remove(state, ["network.key_pair"], force=False, where=W) == [
        "network.key_pair"]
    assert "network.key_pair" not in state.resources


def test_rm_refuses_what_a_staying_resource_depends_on_unless_forced():
    state = network()
    with pytest.raises(StateError, match=r"network.subnet\[a\] depends on network.vpc"):
        state_moves.remove(state, ["network.vpc"], force=False, where=W)
    assert "network.vpc" in state.resources
    assert state_moves.remove(state, ["network.vpc"], force=True, where=W) == ["network.vpc"]
    assert "network.subnet[a]" in state.resources


def test_rm_of_a_module_takes_all_under_it_and_what_depends_inside_it():
    state = network()
    with pytest.raises(StateError, match="jenkins.box depends on"):
        state_moves.remove(state, ["network"], force=False, where=W)
    gone = state_moves.remove(state, ["network", "jenkins"], force=False, where=W)
    assert gone == ["jenkins.box", "network.key_pair", "network.subnet[a]", "network.vpc"]
    assert state.resources == {}


def test_rm_of_nothing_or_of_an_interrupted_step_is_refused():
    state = network()
    with pytest.raises(StateError, match="'network.vpcc' matches nothing"):
        state_moves.remove(state, ["network.vpcc"], force=False, where=W)
    state.pending["network.key_pair"] = Pending("delete", "ec2.key_pair", "now", id="k")
    with pytest.raises(StateError, match="interrupted delete"):
        state_moves.remove(state, ["network.key_pair"], force=False, where=W)


# -- mv ---------------------------------------------------------------------------------------

KINDS = {"network.vpc": ("ec2.vpc", "network"), "net.vpc": ("ec2.vpc", "net"),
         "net.subnet[a]": ("ec2.subnet", "net"), "network.subnet[a]": ("ec2.subnet", "network")}


def test_mv_renames_one_address_and_what_depends_on_it_follows():
    state = network()
    assert state_moves.rename(state, "network.vpc", "network.vpc2", KINDS, where=W) == [
        ("network.vpc", "network.vpc2")]
    assert state.resources["network.vpc2"].id == "vpc-1"
    assert state.resources["network.vpc2"].module == "network"
    assert state.resources["network.subnet[a]"].deps == ["network.vpc2"]
    state_moves.rename(state, "network.vpc2", "network.vpc", KINDS, where=W)
    assert state.resources == network().resources


def test_mv_of_a_module_renames_everything_under_it():
    state = network()
    moves = state_moves.rename(state, "network", "net", KINDS, where=W)
    assert dict(moves) == {"network.vpc": "net.vpc", "network.subnet[a]": "net.subnet[a]",
                           "network.key_pair": "net.key_pair"}
    assert {a: r.module for a, r in state.resources.items()} == {
        "net.vpc": "net", "net.subnet[a]": "net", "net.key_pair": "net", "jenkins.box": "jenkins"}
    assert state.resources["jenkins.box"].deps == ["net.subnet[a]"]
    assert state.resources["net.subnet[a]"].deps == ["net.vpc"]


def test_mv_refuses_a_taken_address_another_kind_and_nothing():
    state = network()
    with pytest.raises(StateError, match="network.key_pair is in the state already"):
        state_moves.rename(state, "network.vpc", "network.key_pair", KINDS, where=W)
    with pytest.raises(StateError, match="net.subnet.a. is a ec2.subnet in the env's graph"):
        state_moves.rename(state, "network.vpc", "net.subnet[a]", KINDS, where=W)
    with pytest.raises(StateError, match="'nope' matches nothing"):
        state_moves.rename(state, "nope", "net", KINDS, where=W)
    assert state.resources == network().resources


# -- edit: under the lock, next serial, same lineage, a backup --------------------------------

def test_an_edit_saves_the_next_serial_keeps_lineage_and_backs_up(tmp_path):
    store = LocalStore(tmp_path / "state", "dev")
    state = network()
    store.load()
    store.save(state)
    lineage = state.lineage
    state_moves.edit(store, "state rm",
                     lambda s: state_moves.remove(s, ["network.key_pair"], force=False, where=W),
                     lock_timeout=0, warn=print)
    doc = json.loads(store.path.read_text())
    assert (doc["lineage"], doc["serial"]) == (lineage, 2)
    assert "network.key_pair" not in doc["resources"]
    assert "network.key_pair" in json.loads(store.backup_path.read_text())["resources"]


def test_an_edit_of_no_state_or_a_locked_one_is_refused(tmp_path):
    store = LocalStore(tmp_path / "state", "dev")
    with pytest.raises(StateError, match="no state yet"):
        state_moves.edit(store, "state rm", lambda s: None, lock_timeout=0, warn=print)
    store.load()
    store.save(network())
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.lock("up", print):
            taken.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(timeout=10)
        with pytest.raises(LockError, match="locked by `ngp up`"):
            state_moves.edit(LocalStore(tmp_path / "state", "dev"), "state mv",
                             lambda s: None, lock_timeout=0, warn=print)
    finally:
        release.set()
        holder.join(timeout=10)


def test_an_edit_on_s3_saves_a_new_version(aws, tmp_path):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="acme-ngp-edits")
    s3.put_bucket_versioning(Bucket="acme-ngp-edits",
                             VersioningConfiguration={"Status": "Enabled"})
    store = S3Store(s3, "acme-ngp-edits", "ngp/dev.json", "dev",
                    lock=S3Lock(s3, "acme-ngp-edits", "ngp/dev.json.lock"), lease_seconds=30,
                    rescue_dir=tmp_path)
    state = network()
    store.load()
    store.save(state)
    state_moves.edit(store, "state mv",
                     lambda s: state_moves.rename(s, "network", "net", KINDS, where=W),
                     lock_timeout=0, warn=print)
    again = store.load()
    assert (again.lineage, again.serial) == (state.lineage, 2)
    assert "net.vpc" in again.resources and "network.vpc" not in again.resources
    assert len(store.history()) == 2


# -- what an import leaves for the planner ----------------------------------------------------

def test_an_imported_object_plans_an_update_of_ngps_tags_then_nothing():
    spec = {"name": "v", "cidr": "10.0.0.0/16", "dns_support": True, "dns_hostnames": True}
    graph = Graph.of([Resource("n.vpc", "ec2.vpc", dict(spec))])
    live = {"id": "vpc-1", "name": "v", "cidr": "10.0.0.0/16", "status": "available"}
    state = State(env="dev")
    # As `ngp import` records it: what the read saw, and the ngp tags it had (none).
    state.resources["n.vpc"] = Recorded("ec2.vpc", "vpc-1", {"name": "v",
                                                             "cidr": "10.0.0.0/16",
                                                             NGP_TAGS: {}}, {"id": "vpc-1"})
    change = make_plan(graph, state, {"n.vpc": live}).changes[0]
    assert change.action == Action.UPDATE
    fields = {f.name: (f.old, f.new) for f in change.fields}
    assert fields[NGP_TAGS] == ({}, {"ngp:env": "dev", "ngp:address": "n.vpc",
                                     "ngp:lineage": state.lineage})
    assert fields["dns_support"] == (None, True)  # no read shows it: it is set, not assumed
    assert "imported" in change.reason
    state.resources["n.vpc"] = Recorded("ec2.vpc", "vpc-1", spec, {"id": "vpc-1"})  # after up
    assert make_plan(graph, state, {"n.vpc": live}).changes[0].action == Action.NOOP


def test_a_mistyped_address_is_told_the_closest():
    known = ["network.vpc", "network.igw", "jenkins.master"]
    assert suggestion("network.vcp", known) == "Did you mean network.vpc? "
    assert suggestion("zzz", known) == ""


def test_a_plan_in_json_says_unknown_values_inside_lists():
    from ngp.graph import UNKNOWN, Ref
    from ngp.plan import jsonable

    assert jsonable([UNKNOWN, "sg-1"]) == [repr(UNKNOWN), "sg-1"]
    assert jsonable({"ids": [Ref("n.sg")]}) == {"ids": [str(Ref("n.sg"))]}
    assert jsonable(UNKNOWN) == repr(UNKNOWN)


def test_mv_marks_an_ec2_object_for_its_tags_to_name_its_new_address():
    # The object's ngp:address tag still names the old address: the next up rewrites it (the
    # refresh would otherwise see another address's object); moved back, nothing is marked.
    state = network()
    state_moves.rename(state, "network.vpc", "network.vpc2", KINDS, where=W)
    assert state.resources["network.vpc2"].spec[NGP_TAGS] == {
        TAG_ENV: state.env, TAG_ADDRESS: "network.vpc", TAG_LINEAGE: state.lineage}
    state_moves.rename(state, "network.vpc2", "network.vpc", KINDS, where=W)
    assert NGP_TAGS not in state.resources["network.vpc"].spec
