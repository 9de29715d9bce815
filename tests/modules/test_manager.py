"""The manager's ngp: no default, a pinned commit or a wheel ngp uploads and the manager checks;
its user data run by bash with dnf, pip and aws stood in for; the wheel's bucket in-process."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import textwrap
import zipfile
from pathlib import Path

import pytest

from ngp import engine
from ngp.config import Project
from ngp.engine import build_desired
from ngp.errors import ConfigError
from ngp.graph import resolve
from tests.modules.test_network import Collect

REPO = Path(__file__).resolve().parents[2]
SHA = "689b3dba32ff4a2a27da0172851cc6fa39ff9c8b"
PINNED = f"git+https://github.com/you/ngp@{SHA}"
WHEEL = "dist/ngp-0.1.0-py3-none-any.whl"
ENV = """
region = "us-east-1"
allowed_account_ids = ["123456789012"]
name_suffix = "t"
modules = ["network", "manager"]
{top}

[network]
availability_zones = 1
nat = "none"
admin_cidrs = ["203.0.113.0/24"]

[manager]
image_name = "amzn2-ami-hvm-*"
{manager}
"""


def build_wheel(root: Path) -> Path:
    """A wheel of ngp built from the repository's sources (the ngp package and its
    dist-info), as `pip wheel` lays it out: what a user uploads for the manager."""
    path = root / WHEEL
    path.parent.mkdir(parents=True, exist_ok=True)
    files = {str(p.relative_to(REPO)): p.read_bytes() for p in sorted((REPO / "ngp").rglob(
        "*.py"))}
    info = "ngp-0.1.0.dist-info"
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: ngp\nVersion: 0.1.0\n"
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: ngp-tests\nRoot-Is-Purelib: "
                              b"true\nTag: py3-none-any\n")
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\nngp = ngp.cli:main\n"
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"  # noqa: E501
              for name, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return path


def write(root: Path, manager: str, top: str = "") -> Project:
    (root / "envs").mkdir(exist_ok=True)
    (root / "envs" / "t.toml").write_text(ENV.format(top=top, manager=textwrap.dedent(manager)))
    return Project(root)


def fake(ref):
    return {"bucket": "ngp-manager-t-123456789012", "key": "<key>"}.get(
        ref.output, f"<{ref.address}.{ref.output}>")


def user_data(project: Project) -> str:
    graph = build_desired(project.load("t", {})).graph
    return resolve(graph.resources["manager.instance"].spec, fake)["user_data"]


# -- the settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(("manager", "words"), [
    ("", "required when the manager module is on: a git URL pinned to a commit"),
    ('ngp_package = "ngp"', "neither of a git URL pinned to a commit"),
    ('ngp_package = "git+https://github.com/you/ngp"', "pin a commit: git+https://"),
    ('ngp_package = "git+https://github.com/you/ngp@main"', "'main' is not a commit's full sha: "
     "a branch or tag name can move"),
    ('ngp_package = "git+https://github.com/you/ngp@v1.2.0"', "'v1.2.0' is not a commit's"),
    ('ngp_package = "git+https://github.com/you/ngp@689b3db"', "'689b3db' is not a commit's"),
    (f'ngp_package = "git+ssh://git@github.com/you/ngp@{SHA}"', "must be git+https://"),
    (f'ngp_package = "git+https://github.com/you/ngp@{SHA}#egg=ngp"', "is not a commit's"),
    ('ngp_package = "dist/ngp.whl"', "not a wheel's file name"),
])
def test_the_package_is_refused_unless_pinned(tmp_path, manager, words):
    with pytest.raises(ConfigError) as exc:
        write(tmp_path, manager).load("t", {})
    assert exc.value.where == "envs/t.toml: manager.ngp_package", exc.value.line()
    assert words in exc.value.line() and "\n" not in exc.value.line()


def test_a_missing_wheel_is_one_line_naming_the_file_and_key(tmp_path):
    project = write(tmp_path, f'ngp_package = "{WHEEL}"')
    with pytest.raises(ConfigError) as exc:
        build_desired(project.load("t", {}))
    assert exc.value.where == "envs/t.toml: manager.ngp_package"
    assert f"cannot read the wheel {tmp_path / WHEEL}" in exc.value.line()
    assert "\n" not in exc.value.line()


def test_a_pinned_commit_or_a_wheel_is_accepted(tmp_path):
    write(tmp_path, f'ngp_package = "{PINNED}"').load("t", {})
    wheel = build_wheel(tmp_path)
    for given in (WHEEL, str(wheel)):
        settings = write(tmp_path, f'ngp_package = "{given}"').load("t", {})
        assert "manager.package" in build_desired(settings).graph.resources


def test_the_manager_module_off_needs_no_package(tmp_path):
    text = ENV.format(top="", manager="").replace('["network", "manager"]', '["network"]')
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "t.toml").write_text(text.split("[manager]")[0])
    Project(tmp_path).load("t", {})


def test_the_shipped_sandbox_env_pins_a_commit():
    settings = Project(REPO).load("sandbox", {})
    assert settings.module("manager").ngp_package.startswith("git+https://")


# -- the user data, run by bash --------------------------------------------------------------


def run_user_data(script: str, tmp: Path, *, aws_gives: bytes | None = None,
                  pip_fails: bool = False) -> tuple[subprocess.CompletedProcess, str, list[str]]:
    """The whole script with its paths moved under tmp, and dnf, python3.11 (its venv's pip),
    aws and sleep stood in for; returns the run, the log and the calls made."""
    for path in ("/var/log/", "/opt/", "/usr/local/bin/", "/etc/profile.d/"):
        (tmp / path.strip("/")).mkdir(parents=True, exist_ok=True)
        script = script.replace(path, f"{tmp}{path}")
    calls = tmp / "calls"
    pip = f"#!/bin/bash\necho \"pip $*\" >>{calls}\n" + ("exit 1\n" if pip_fails else "")
    stand_ins = textwrap.dedent(f"""\
        dnf() {{ echo "dnf $*" >>{calls}; }}
        sleep() {{ :; }}
        python3.11() {{ echo "python3.11 $*" >>{calls}; mkdir -p "$3/bin"
                       printf '%s' '{pip}' >"$3/bin/pip"; chmod +x "$3/bin/pip"; }}
        aws() {{ echo "aws $*" >>{calls}; cp {tmp}/object "${{@: -1}}"; }}
        """)
    if aws_gives is not None:
        (tmp / "object").write_bytes(aws_gives)
    first, rest = script.split("\n", 1)
    assert first == "#!/bin/bash"
    run = subprocess.run(["bash", "-c", stand_ins + rest], capture_output=True, text=True,
                         timeout=60)
    log = (tmp / "var/log/ngp-manager.log").read_text()
    return run, log, calls.read_text().splitlines() if calls.exists() else []


def test_the_user_data_installs_a_pinned_commit(tmp_path):
    script = user_data(write(tmp_path, f'ngp_package = "{PINNED}"'))
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    run, log, calls = run_user_data(script, tmp_path / "root")
    assert run.returncode == 0, log
    assert calls[0] == "dnf install -y python3.11 python3.11-pip git awscli-2"
    assert calls[-1] == f"pip install {PINNED}"
    assert not any(c.startswith("aws ") for c in calls)
    assert log.endswith("ngp: the manager is ready\n")
    assert "export NGP_ENV=t" in (tmp_path / "root/etc/profile.d/ngp.sh").read_text()


def test_the_user_data_installs_the_wheel_only_if_its_hash_matches(tmp_path):
    wheel = build_wheel(tmp_path)
    script = user_data(write(tmp_path, f'ngp_package = "{WHEEL}"'))
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert "'s3://ngp-manager-t-123456789012/<key>'" in script and sha in script

    run, log, calls = run_user_data(script, tmp_path / "good", aws_gives=wheel.read_bytes())
    assert run.returncode == 0, log
    assert calls[2].startswith("aws s3 cp --only-show-errors --region us-east-1 "
                               "s3://ngp-manager-t-123456789012/<key> ")
    assert calls[-1] == (f"pip install {tmp_path}/good/opt/ngp-package/"
                         "ngp-0.1.0-py3-none-any.whl")

    run, log, calls = run_user_data(script, tmp_path / "bad", aws_gives=b"not the wheel")
    assert run.returncode != 0
    assert not any(c.startswith("pip ") for c in calls), "a wheel of another hash was installed"
    assert "FAILED" in log and "the manager install FAILED" in log
    assert "ready" not in log


def test_a_failed_install_fails_the_script_loudly(tmp_path):
    script = user_data(write(tmp_path, f'ngp_package = "{PINNED}"'))
    run, log, calls = run_user_data(script, tmp_path, pip_fails=True)
    assert run.returncode != 0
    assert sum(c.startswith("pip install") for c in calls) == 30  # retried, bounded
    assert f"ngp: gave up: {tmp_path}/opt/ngp/bin/pip install {PINNED}" in log
    assert "the manager install FAILED at line" in log and "ready" not in log
    assert not (tmp_path / "usr/local/bin/ngp").exists()


# -- the wheel in its bucket, through the engine against the strict sandbox's AWS -------------


@pytest.fixture
def project(tmp_path, strict_endpoint):
    from tests.conftest import reset_aws

    reset_aws(strict_endpoint)
    build_wheel(tmp_path)
    return write(tmp_path, f'ngp_package = "{WHEEL}"',
                 top=f'endpoint_url = "{strict_endpoint}"')


def test_the_wheel_is_uploaded_to_a_private_bucket_and_read_by_the_manager_only(project, aws):
    wheel = (project.root / WHEEL).read_bytes()
    sha = hashlib.sha256(wheel).hexdigest()
    with engine.open_run(project, "t", "up", Collect()) as run:
        engine.apply(run, engine.plan(run))
        state = run.state
    bucket, key = "ngp-manager-t-123456789012", f"packages/{sha}/ngp-0.1.0-py3-none-any.whl"
    assert state.resources["manager.package"].id == f"{bucket}/{key}"
    s3 = aws.client("s3")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == wheel
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"][
        "RestrictPublicBuckets"] is True
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    ec2 = aws.client("ec2")
    data = ec2.describe_instance_attribute(InstanceId=state.resources["manager.instance"].id,
                                           Attribute="userData")["UserData"]["Value"]
    script = base64.b64decode(data).decode()
    assert f"echo '{sha}  /opt/ngp-package/ngp-0.1.0-py3-none-any.whl' | sha256sum" in script
    assert f"'s3://{bucket}/{key}'" in script

    read = aws.client("iam").get_role_policy(RoleName="ngp-manager-t", PolicyName="package")
    assert read["PolicyDocument"]["Statement"] == [{
        "Sid": "ReadNgpPackage", "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{key}"}]

    with engine.open_run(project, "t", "plan", Collect()) as run:
        assert not engine.plan(run).has_changes  # the same wheel is never uploaded again
    with engine.open_run(project, "t", "down", Collect()) as run:
        engine.apply(run, engine.plan(run, destroy=True))
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_init_asks_for_the_package_except_in_the_sandbox(tmp_path):
    from ngp import init

    def answers(**given):
        return init.Answers(modules="network,manager", admin_cidrs="203.0.113.0/24",
                            account_ids="111122223333", **given)  # no default: given

    with pytest.raises(ValueError, match="manager_package: required when the manager"):
        init.ask_all(answers(), set(), None, print)
    with pytest.raises(ValueError, match="'main' is not a commit's full sha"):
        init.ask_all(answers(manager_package=PINNED.replace(SHA, "main")),
                     {"manager_package"}, None, print)
    for given, sandbox in ((PINNED, False), ("", True)):
        filled = init.ask_all(answers(manager_package=given, sandbox=sandbox),
                              {"manager_package"} if given else set(), None, print)
        (tmp_path / "envs").mkdir(exist_ok=True)
        (tmp_path / "envs" / "t.toml").write_text(init.render_env("t", filled))
        package = Project(tmp_path).load("t", {}).module("manager").ngp_package
        assert package == (PINNED if given else init.SANDBOX_PACKAGE)
