import json
import os
import stat

import pytest

from ngp.errors import LockError, NgpError, StateError
from ngp.state import FORMAT, LocalStore, Pending, Recorded


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "state", "dev")


def saved(store, n=1):
    state = store.load()
    for i in range(n):
        state.resources[f"n.r{i}"] = Recorded("ec2.vpc", f"vpc-{i}", {"cidr": "10.0.0.0/16"},
                                              {"id": f"vpc-{i}"})
        store.save(state)
    return state


def test_new_env_has_an_empty_state_with_a_lineage(store):
    state = store.load()
    assert state.env == "dev" and state.serial == 0 and len(state.lineage) == 36
    assert not store.exists()


def test_save_round_trips_and_counts_serial(store):
    state = saved(store, 2)
    state.pending["n.x"] = Pending("create", "ec2.vpc", "2026-11-26T10:00:00Z", {"cidr": "x"})
    store.save(state)
    again = LocalStore(store.path.parent, "dev").load()
    assert again.serial == 3 == state.serial
    assert again.lineage == state.lineage
    assert again.resources == state.resources and again.pending == state.pending


def test_state_files_are_private(store):
    saved(store)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_backup_keeps_the_previous_version(store):
    saved(store, 3)
    backup = json.loads(store.backup_path.read_text())
    current = json.loads(store.path.read_text())
    assert backup["serial"] == current["serial"] - 1
    assert len(backup["resources"]) == len(current["resources"]) - 1


def test_no_temp_files_are_left(store):
    saved(store, 3)
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["dev.json", "dev.json.backup"]


@pytest.mark.parametrize("content", [b"{not json", b"", b"[]", b'{"format": 1}',
                                     b'{"format": 1, "env": "dev", "lineage": "x", '
                                     b'"serial": 1, "resources": {"a": {"kind": "x"}}}'])
def test_corrupt_state_is_refused_and_left_untouched(store, content):
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    with pytest.raises(StateError) as exc:
        store.load()
    assert str(store.path) in exc.value.summary
    assert "backup" in exc.value.hint
    assert store.path.read_bytes() == content


def test_state_of_another_env_is_refused(store, tmp_path):
    other = LocalStore(store.path.parent, "prod")
    saved(other)
    os.replace(other.path, store.path)
    before = store.path.read_bytes()
    with pytest.raises(StateError, match="belongs to env 'prod'"):
        store.load()
    assert store.path.read_bytes() == before


def test_state_from_a_newer_ngp_is_refused(store):
    state = saved(store)
    doc = json.loads(store.path.read_text())
    doc["format"] = FORMAT + 1
    store.path.write_text(json.dumps(doc))
    with pytest.raises(StateError, match="newer"):
        LocalStore(store.path.parent, "dev").load()
    assert state.serial == 1


@pytest.mark.parametrize("section", ["resources", "pending"])
def test_a_state_with_an_unknown_kind_is_one_line_naming_the_file_and_address(store, section):
    saved(store)
    doc = json.loads(store.path.read_text())
    if section == "resources":
        doc["resources"]["n.r0"]["kind"] = "ec2.nonsense"
    else:
        doc["pending"]["n.new"] = {"op": "create", "kind": "ec2.nonsense", "since": "now"}
    store.path.write_text(json.dumps(doc))
    with pytest.raises(NgpError) as exc:
        LocalStore(store.path.parent, "dev").load()
    line = exc.value.line()
    address = "n.r0" if section == "resources" else "n.new"
    assert exc.value.where == f"{store.path}: {address}", line
    assert "unknown resource kind 'ec2.nonsense'" in line and "newer ngp" in line, line
    assert "\n" not in line


def test_a_file_changed_under_a_run_is_not_overwritten(store):
    state = saved(store)
    foreign = json.loads(store.path.read_text())
    foreign["lineage"] = "someone-else"
    store.path.write_text(json.dumps(foreign))
    state.resources["n.more"] = Recorded("ec2.vpc", "vpc-9", {}, {})
    with pytest.raises(StateError, match="changed by another program"):
        store.save(state)
    assert json.loads(store.path.read_text())["lineage"] == "someone-else"
    rescue = json.loads(store.path.with_name("dev.json.rescue-2").read_text())
    assert "n.more" in rescue["resources"]


def test_second_holder_of_the_lock_fails_naming_the_first(store):
    warnings = []
    with store.lock("up", warnings.append):
        other = LocalStore(store.path.parent, "dev")
        with pytest.raises(LockError) as exc, other.lock("plan", warnings.append):
            pass
        assert "`ngp up`" in exc.value.summary and f"pid {os.getpid()}" in exc.value.summary
        note, alive = other.holder()
        assert alive and note["command"] == "up"
    assert warnings == []
    assert store.holder() == (None, False)


def test_a_lock_left_by_a_dead_run_is_taken_over_with_a_warning(store):
    store.lock_path.parent.mkdir(parents=True)
    store.lock_path.write_text(json.dumps({"pid": 999999, "host": "h", "command": "up",
                                           "since": "2026-11-26T09:00:00Z"}))
    warnings = []
    with store.lock("up", warnings.append):
        pass
    assert len(warnings) == 1 and "pid 999999" in warnings[0]


def test_unlock_breaks_a_held_lock_and_returns_its_note(store):
    with store.lock("up", print):
        note = LocalStore(store.path.parent, "dev").unlock()
        assert note["command"] == "up"
        with LocalStore(store.path.parent, "dev").lock("plan", print):
            pass  # the broken lock no longer blocks a new run


def test_a_file_from_another_deployment_is_refused(store, tmp_path):
    saved(store, 2)
    other = LocalStore(tmp_path / "elsewhere", "dev")
    saved(other)
    content = other.path.read_bytes()
    store.path.write_bytes(content)
    with pytest.raises(StateError, match="replaced by the state of another deployment"):
        LocalStore(store.path.parent, "dev").load()
    assert store.path.read_bytes() == content


def test_starting_over_keeps_the_old_backup_aside(store):
    first = saved(store, 2)
    store.path.unlink()
    fresh = LocalStore(store.path.parent, "dev")
    second = saved(fresh, 2)
    assert LocalStore(store.path.parent, "dev").load().lineage == second.lineage
    aside = store.path.parent / f"dev.json.backup-{first.lineage}"
    assert json.loads(aside.read_text())["lineage"] == first.lineage


def test_a_save_after_a_load_writes_unchanged_resources_as_read(store):
    saved(store, 3)
    before = store.path.read_bytes()
    again = store.load()
    assert len(again._lines) == 3  # each resource's line kept from the file
    again.resources["n.r1"] = Recorded("ec2.vpc", "vpc-9", {"cidr": "10.9.0.0/16"},
                                       {"id": "vpc-9"})
    store.save(again)
    after = store.path.read_bytes().decode().splitlines()
    changed = [a for a, b in zip(before.decode().splitlines(), after, strict=True) if a != b]
    assert len(changed) == 2 and '"serial"' in changed[0] and '"vpc-1"' in changed[1]
    assert store.load().resources["n.r1"].id == "vpc-9"


@pytest.mark.parametrize("layout", ["indented", "two on a line", "split over lines"])
def test_a_state_file_in_another_layout_reads_the_same_and_is_written_anew(store, layout):
    state = saved(store, 3)
    text = store.path.read_text()
    if layout == "indented":
        text = json.dumps(json.loads(text), indent=4)
    elif layout == "two on a line":
        text = text.replace('},\n  "n.r1"', '}, "n.r1"')
    else:
        text = text.replace('"spec":{', '"spec":\n{')
    store.path.write_text(text)
    again = LocalStore(store.path.parent, "dev").load()
    assert again.resources == state.resources and again._lines == {}
    store = LocalStore(store.path.parent, "dev")
    store.save(store.load())
    assert json.loads(store.path.read_text())["resources"] == json.loads(text)["resources"]
