"""Start, find and stop the sandbox process of a project (state/sandbox/)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ngp.config import Project
from ngp.errors import NgpError

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def _dir(project: Project) -> Path:
    return project.state_dir / "sandbox"


def info_path(project: Project) -> Path:
    return _dir(project) / "server.json"


def log_path(project: Project) -> Path:
    return _dir(project) / "server.log"


def runner_path(project: Project) -> Path:
    """The IAM user ngp signs as when the sandbox enforces an env's policy (--iam-policy-of)."""
    return _dir(project) / "runner.json"


ROOT_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def run_as_policy(project: Project, info: dict[str, Any], env: str,
                  document: dict[str, Any]) -> str:
    """Make the IAM user ngp-<env> holding document, and have ngp sign as it from now on: the
    sandbox's iam.identity-policies rule then refuses what the document does not allow.
    Returns the user's name. (Its key is the sandbox's own, never a real one.)"""
    import boto3

    iam = boto3.client("iam", endpoint_url=info["endpoint"], region_name="us-east-1",
                       **ROOT_CREDENTIALS)
    name = f"ngp-{env}"
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="ngp", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    path = runner_path(project)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"env": env, "user": name, "pid": info["pid"],
                                "aws_access_key_id": key["AccessKeyId"],
                                "aws_secret_access_key": key["SecretAccessKey"]}))
    return name


def runner(project: Project) -> dict[str, Any] | None:
    """The user ngp signs as in the running sandbox (see run_as_policy), or None: root."""
    info = status(project)
    try:
        found = json.loads(runner_path(project).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return found if info is not None and found.get("pid") == info["pid"] else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(endpoint: str) -> bool:
    host, port = endpoint.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def status(project: Project) -> dict[str, Any] | None:
    """The running sandbox's info (pid, endpoint, marathon_url), or None."""
    path = info_path(project)
    try:
        info = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(int(info.get("pid", 0))) or not _answers(info.get("endpoint", "")):
        return None
    return info


def remove_own(path: Path, pid: int) -> None:
    """Remove a sandbox's file (server.json, runner.json) only if it names pid: a sandbox
    stopped late, or one started by mistake beside the live one, must not remove the live
    one's, which would leave it running unseen."""
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink(missing_ok=True)
    except (FileNotFoundError, ValueError):
        pass


@contextlib.contextmanager
def _one_starter(project: Project) -> Iterator[None]:
    """Hold state/sandbox/start.lock while the sandbox is looked for and started: whoever
    asks, one project has one sandbox. flock(2) is released by the kernel when its holder
    dies, so a starter killed mid-start never blocks the next one."""
    project.state_dir.mkdir(mode=0o700, exist_ok=True)  # state: owner only
    _dir(project).mkdir(parents=True, exist_ok=True)
    with open(_dir(project) / "start.lock", "a") as held:
        deadline = time.monotonic() + START_TIMEOUT + 5
        while True:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NgpError("another ngp has been starting the sandbox for over "
                                   f"{START_TIMEOUT:.0f}s", hint=f"See {log_path(project)}; "
                                   "`ngp sandbox stop` then try again.") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def start(project: Project, latency_ms: float = 0.0, deploy_seconds: float = 0.5,
          marathon_token: str | None = None, faults: str = "",
          model_scale: float = 0.0, lenient: tuple[str, ...] = (),
          marathon_nodes: tuple[int, int] = (2, 1)) -> tuple[dict[str, Any], bool]:
    """Start the sandbox unless it runs; returns its info and whether it was started now.
    Two callers at once get one sandbox: the second waits, then finds the first's."""
    with _one_starter(project):
        info = status(project)
        if info is not None:
            return info, False
        return _spawn(project, latency_ms, deploy_seconds, marathon_token, faults,
                      model_scale, lenient, marathon_nodes), True


def _spawn(project: Project, latency_ms: float, deploy_seconds: float,
           marathon_token: str | None, faults: str, model_scale: float,
           lenient: tuple[str, ...], marathon_nodes: tuple[int, int]) -> dict[str, Any]:
    path = info_path(project)
    path.unlink(missing_ok=True)  # no sandbox answers (status): the file is a dead one's
    with open(log_path(project), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ngp.sandbox", "serve", "--info", str(path),
             "--latency-ms", str(latency_ms), "--marathon-deploy-seconds", str(deploy_seconds),
             *(["--marathon-token", marathon_token] if marathon_token else []),
             *(["--faults", faults] if faults else []),
             *(["--model", str(model_scale)] if model_scale else []),
             *(["--lenient", ",".join(lenient)] if lenient else []),
             "--marathon-nodes", ",".join(map(str, marathon_nodes))],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True,  # outlives this command, and its Ctrl-C
            cwd=project.root,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NgpError(f"the sandbox exited at start (code {proc.returncode})",
                           hint=f"See {log_path(project)}; is moto installed "
                           "(pip install -e '.[sandbox]')?")
        info = status(project)
        if info is not None and info["pid"] == proc.pid:
            return info
        time.sleep(0.05)
    proc.kill()
    raise NgpError(f"the sandbox did not answer within {START_TIMEOUT:.0f}s",
                   hint=f"See {log_path(project)}.")


def stop(project: Project) -> dict[str, Any] | None:
    """Stop the sandbox (everything in it is lost); returns what was stopped, or None.
    Under the start lock: a stop never removes the file of a sandbox still starting."""
    if not info_path(project).exists() and not runner_path(project).exists():
        return None  # nothing to stop (and no state/ to make for a lock)
    with _one_starter(project):
        return _stop(project)


def _stop(project: Project) -> dict[str, Any] | None:
    info = status(project)
    if info is None:
        info_path(project).unlink(missing_ok=True)
        runner_path(project).unlink(missing_ok=True)
        return None
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        _reap(pid)
    remove_own(info_path(project), pid)
    remove_own(runner_path(project), pid)
    return info


def _reap(pid: int) -> None:
    """Collect the exit status if the sandbox is our own child (it is in tests)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def prepare(aws: Any, domain: str | None, *, read_only: bool = False) -> str | None:
    """Give the sandbox what a real account must already have: the env's hosted zone.
    What to tell the user: the zone made now, or (a read-only command makes nothing) that it
    is missing; None if it was there."""
    if not domain:
        return None
    route53 = aws.client("route53")
    zones = route53.list_hosted_zones_by_name(DNSName=domain + ".")["HostedZones"]
    if any(z["Name"] == domain + "." for z in zones):
        return None
    if read_only:
        return (f"the sandbox has no hosted zone {domain} yet ([core] domain): `ngp up` makes "
                "it, as a real account has it; this command makes nothing")
    route53.create_hosted_zone(Name=domain, CallerReference=f"ngp-sandbox-{domain}")
    return f"made the sandbox's hosted zone {domain}, as a real account has it"
