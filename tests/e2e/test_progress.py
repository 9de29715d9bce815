"""Progress lines: a phase still running after half a second says so on stderr, and starting
the sandbox is always said; stdout keeps only the command's own output (--json parses)."""

from __future__ import annotations

import json

import pytest

from tests.homes import Home


@pytest.fixture
def fresh(tmp_path):
    """A project whose sandbox is not running."""
    project = Home(tmp_path)
    yield project
    project.stop()


def test_first_up_says_it_starts_the_sandbox_and_a_slow_plan_says_it_refreshes(fresh):
    env = fresh.env("prog")
    up = fresh.ngp("up", "--env", env, "--yes", "--target", "network.vpc", check=True)
    lines = up.stderr.splitlines()
    starting = "Starting the sandbox (a local AWS and Marathon, in the background)..."
    assert starting in lines, up.stderr
    started = next(i for i, line in enumerate(lines) if "started the sandbox at" in line)
    assert lines.index(starting) < started  # said before the wait, then where it is
    assert "Starting" not in up.stdout

    # A sandbox answering each request 0.6 s late: refreshing the recorded VPC takes longer
    # than half a second, and is said; the plan's JSON stays alone on stdout.
    fresh.ngp("sandbox", "stop", check=True)
    fresh.ngp("sandbox", "start", "--latency-ms", "600", check=True, timeout=90)
    plan = fresh.ngp("plan", "--env", env, "--target", "network.vpc", "--json", check=True)
    assert json.loads(plan.stdout)["env"] == env
    lines = plan.stderr.splitlines()
    assert "Refreshing 1 resource..." in lines, plan.stderr
    assert any(line.startswith("Connecting to AWS (http://127.0.0.1:") for line in lines)
    assert not any(line.startswith("Starting the sandbox") for line in lines)
