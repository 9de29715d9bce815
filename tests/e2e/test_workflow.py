"""The daily workflow a Terraform user expects (issue 17), as a user runs it: `ngp validate`,
`--parallelism N` and `--lock-timeout`, in real processes."""

from __future__ import annotations

from tests.homes import Home, one_error_line


def test_validate_checks_settings_and_graph_and_starts_nothing(tmp_path):
    project = Home(tmp_path)
    try:
        proc = project.ngp("validate", "--env", "sandbox", timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith("envs/sandbox.toml is valid: ")
        assert proc.stdout.rstrip().endswith(" modules")
        assert not (tmp_path / "state" / "sandbox" / "server.json").exists()

        # The endpoint is a closed port: any AWS call would fail, and slowly.
        env = project.env("broken", **{"sandbox = true": 'endpoint_url = "http://127.0.0.1:9"',
                                       "region =": "regoin = \"x\"\nregion ="})
        proc = project.ngp("validate", "--env", env, timeout=30)
        assert proc.returncode == 1
        assert "regoin" in one_error_line(proc.stderr)
    finally:
        project.stop()
    assert not (tmp_path / "state" / "sandbox" / "server.json").exists()
