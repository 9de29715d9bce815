"""`ngp init` as a person uses it, in a real terminal (tmux), and as a script uses it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from ngp.init import DEFAULT_MODULES

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True,
                          timeout=10).stdout


def screen_shows(session: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", session)
        if text in screen:
            return screen
        assert time.monotonic() < deadline, f"{text!r} never showed:\n{screen}"
        time.sleep(0.1)


def test_init_in_a_terminal_asks_again_with_the_reason_then_writes_a_working_env(home):
    session = f"ngp-init-{os.getpid()}"
    command = (f"cd {home.root} && NGP_HOME={home.root} {sys.executable} -m ngp init "
               f"--env tm --sandbox; echo EXIT=$?; sleep 60")
    tmux("new-session", "-d", "-s", session, "-x", "220", "-y", "60", command)
    try:
        def answer(question: str, text: str) -> None:
            screen_shows(session, question)
            tmux("send-keys", "-t", session, text, "Enter")

        answer("AWS region", "")
        answer("Modules", "network,nope")
        screen_shows(session, "unknown module 'nope'")
        # Asked again with the default it had, not the rejected answer.
        again = f"Modules (comma-separated) [{DEFAULT_MODULES}]:"
        deadline = time.monotonic() + 30
        while (screen := tmux("capture-pane", "-p", "-J", "-t", session)).count(again) < 2:
            assert time.monotonic() < deadline and "[network,nope]" not in screen, screen
            time.sleep(0.1)
        tmux("send-keys", "-t", session, "C-u", "network,dcos", "Enter")
        answer("Name prefix", "")
        answer("Name suffix", "")
        answer("DC/OS version", "")
        answer("DC/OS masters", "2")
        screen_shows(session, "so a majority survives a lost master")
        tmux("send-keys", "-t", session, "C-u", "1", "Enter")
        answer("DC/OS private agents", "")
        answer("DC/OS public agents", "")
        answer("Admin CIDRs", "")
        answer("Route53 domain", "")
        screen = screen_shows(session, "EXIT=")
        assert "EXIT=0" in screen and "Wrote" in screen, screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True,
                       timeout=10)
    text = (home.root / "envs" / "tm.toml").read_text()
    assert 'modules = ["network", "dcos"]' in text and "masters = 1" in text
    plan = home.ngp("plan", "--env", "tm", check=True)
    assert "dcos.master[0]" in plan.stdout and "dcos.master[1]" not in plan.stdout


def test_init_with_flags_writes_a_file_that_loads_and_never_overwrites(home):
    made = home.ngp("init", "--env", "flags", "--sandbox", "--yes", "--modules",
                    "network,openvpn,monitoring", "--prefix", "team", check=True)
    assert "SYSDIG_ACCESS_KEY" in made.stdout  # what the chosen modules need
    text = (home.root / "envs" / "flags.toml").read_text()
    assert all(line.startswith(("#", "[")) or "#" in line or not line.strip()
               or line.startswith("modules") or "image_name" in line
               for line in text.splitlines()), "every key has its comment"
    assert home.ngp("plan", "--env", "flags", check=True).returncode == 0
    again = home.ngp("init", "--env", "flags", "--sandbox", "--yes")
    assert again.returncode == 1 and "--force" in again.stderr
    bad = home.ngp("init", "--env", "bad", "--yes", "--region", "mars")
    assert bad.returncode == 1 and "region" in bad.stderr
    assert not (home.root / "envs" / "bad.toml").exists()


def test_init_yes_refuses_without_an_account_id_and_writes_no_placeholder(home):
    refused = home.ngp("init", "--env", "noacct", "--yes", "--admin-cidrs", "203.0.113.0/24")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "account id has no default" in refused.stderr and "--account-ids" in refused.stderr
    assert not (home.root / "envs" / "noacct.toml").exists()
    home.ngp("init", "--env", "noacct", "--yes", "--account-ids", "210987654321",
             "--admin-cidrs", "203.0.113.0/24", check=True)
    text = (home.root / "envs" / "noacct.toml").read_text()
    assert 'allowed_account_ids = ["210987654321"]' in text
