"""The dcos module's boot scripts run for real: by bash, through shellcheck, and end to end
with a stand-in on PATH for every command that would reach the network or change the machine
(yum, systemctl, curl, aws, docker, modprobe, ...). The stand-ins record their calls; the
script's own paths (/etc/yum.repos.d, /var/log, /opt/dcos, /dev/console) are moved under a
temporary root. No container runtime or chroot is available here: this is the closest run."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from ngp.engine import build_desired
from tests.modules.test_dcos import load, spec

INSTALLER = "#!/bin/sh\necho generated the install\n"
INSTALLER_SHA256 = hashlib.sha256(INSTALLER.encode()).hexdigest()
CENTOS_7 = 'NAME="CentOS Linux"\nID="centos"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04"\n'

# Each stand-in logs "<name> <args>" to $CALLS; $FAIL holds a pattern of calls that fail.
STAND_IN = textwrap.dedent("""\
    #!/bin/bash
    echo "$(basename "$0") $*" >>"$CALLS"
    if [ -n "${FAIL:-}" ] && [[ "$(basename "$0") $*" == $FAIL ]]; then exit 1; fi
    """)
BEHAVIOUR = {
    "curl": textwrap.dedent("""\
        out=""; url=""
        while [ $# -gt 0 ]; do
          case "$1" in -o) out=$2; shift 2 ;; -H|-X) shift 2 ;; -*) shift ;; *) url=$1; shift ;;
          esac
        done
        case "$url" in
          */api/token) echo token ;;
          */meta-data/instance-id) echo i-0123456789abcdef0 ;;
          */meta-data/placement/region) echo eu-west-1 ;;
          *dcos_generate_config.sh) printf '%s' "$INSTALLER" >"$out" ;;
          *dcos_install.sh) printf '#!/bin/sh\\necho installed as "$1"\\n' >"$out" ;;
          *) echo zip >"$out" ;;
        esac
        """),
    "unzip": textwrap.dedent("""\
        mkdir -p "$ROOT/tmp/ngp-awscli/aws"
        printf '#!/bin/bash\\necho "aws-install $*" >>"$CALLS"\\ncp "$AWS" "$BIN/aws"\\n' \\
          >"$ROOT/tmp/ngp-awscli/aws/install"
        chmod +x "$ROOT/tmp/ngp-awscli/aws/install"
        """),
    "aws": textwrap.dedent("""\
        if [ "$1 $2" = "s3 cp" ]; then printf "%s" "$INSTALLER" >"${!#}"; fi
        """),
    "docker": textwrap.dedent("""\
        if [ "$1" = version ]; then echo "${DOCKER_FOUND:-19.03.5}"; fi
        """),
    # What Docker reads when it starts: recorded with the call that starts it.
    "systemctl": textwrap.dedent("""\
        if [ "$1 $2" = "enable --now" ] && [ -f "$ROOT/etc/docker/daemon.json" ]; then
          echo "daemon.json $(tr -d ' \n' <"$ROOT/etc/docker/daemon.json")" >>"$CALLS"
        fi
        """),
}
PLAIN = ("yum", "modprobe", "setenforce", "groupadd", "getent", "sleep")


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """The generated scripts: the default env's, and one with a local installer."""
    home = tmp_path_factory.mktemp("env")
    graph = build_desired(load(home)).graph
    (home / "dcos_generate_config.sh").write_text(INSTALLER)
    local = build_desired(load(home, f"""
        installer = "dcos_generate_config.sh"
        installer_sha256 = "{INSTALLER_SHA256}"
    """)).graph
    url = build_desired(load(home, f"""
        installer = "https://archive.example/dcos_generate_config.sh"
        installer_sha256 = "{INSTALLER_SHA256}"
    """)).graph
    registry = build_desired(load(tmp_path_factory.mktemp("registry"),
                                  modules=("network", "dcos", "docker_registry"))).graph
    return {"master": spec(graph, "dcos.master[0]")["user_data"],
            "agent_registry": spec(registry, "dcos.private_agents_template")["user_data"],
            "agent": spec(graph, "dcos.public_agents_template")["user_data"],
            "bootstrap": spec(graph, "dcos.bootstrap")["user_data"],
            "bootstrap_s3": spec(local, "dcos.bootstrap")["user_data"],
            "bootstrap_url": spec(url, "dcos.bootstrap")["user_data"]}


class Run:
    def __init__(self, root: Path, result: subprocess.CompletedProcess) -> None:
        self.root, self.code = root, result.returncode
        self.output = result.stdout + result.stderr
        self.calls = (root / "calls").read_text().splitlines() if (root / "calls").exists() \
            else []
        log = root / "var/log/ngp-dcos.log"
        self.log = log.read_text() if log.exists() else ""
        console = root / "console"
        self.console = console.read_text() if console.exists() else ""

    def called(self, prefix: str) -> list[str]:
        return [c for c in self.calls if c.startswith(prefix)]


def run(script: str, tmp_path: Path, *, os_release: str = CENTOS_7, fail: str = "",
        installer: str = INSTALLER, docker_found: str = "19.03.5") -> Run:
    root = tmp_path / "root"
    for folder in ("etc/yum.repos.d", "etc/selinux", "etc/docker", "etc/modules-load.d",
                   "var/log", "opt", "tmp", "bin"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "etc/os-release").write_text(os_release)
    (root / "etc/selinux/config").write_text("SELINUX=enforcing\n")
    (root / "etc/yum.repos.d/CentOS-Base.repo").write_text(
        "[base]\nmirrorlist=http://mirrorlist.centos.org/?release=$releasever\n")
    bin_dir, spare = root / "bin", root / "spare"
    spare.mkdir(exist_ok=True)
    for name in (*PLAIN, *BEHAVIOUR):
        # aws exists only once its installer has run, as on the node.
        target = spare if name == "aws" else bin_dir
        (target / name).write_text(STAND_IN + BEHAVIOUR.get(name, ""))
        (target / name).chmod(0o755)
    moved = re.compile(r"/etc/os-release|/etc/yum\.repos\.d|/etc/selinux/config|/etc/docker|"
                       r"/etc/modules-load\.d|/var/log/|/opt/dcos|/tmp/|/dev/console")
    script = moved.sub(lambda m: f"{root}/console" if m.group() == "/dev/console"
                       else f"{root}{m.group()}", script)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(root / "calls"), "ROOT": str(root),
           "BIN": str(bin_dir), "AWS": str(spare / "aws"), "FAIL": fail,
           "INSTALLER": installer, "DOCKER_FOUND": docker_found, "HOME": str(tmp_path)}
    (root / "user-data.sh").write_text(script)
    result = subprocess.run(["bash", str(root / "user-data.sh")], env=env, capture_output=True,
                            text=True, timeout=60)
    return Run(root, result)


@pytest.mark.parametrize("name", ["master", "agent", "agent_registry", "bootstrap",
                                  "bootstrap_s3", "bootstrap_url"])
def test_scripts_parse_and_pass_shellcheck(scripts, name):
    check = subprocess.run(["bash", "-n"], input=scripts[name], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    lint = subprocess.run(["shellcheck", "-s", "bash", "-"], input=scripts[name],
                          capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout


def test_a_node_installs_from_pinned_repositories_and_locks_docker(scripts, tmp_path):
    done = run(scripts["master"], tmp_path)
    assert done.code == 0, done.output + done.log
    repos = (done.root / "etc/yum.repos.d/ngp.repo").read_text()
    assert "baseurl=https://vault.centos.org/7.9.2009/os/$basearch/" in repos
    assert "baseurl=https://vault.centos.org/7.9.2009/updates/$basearch/" in repos
    assert "baseurl=https://download.docker.com/linux/centos/7/x86_64/stable" in repos
    assert "mirrorlist" not in repos
    # The image's own repositories (CentOS 7's dead mirror list) are out of yum's way.
    assert [p.name for p in (done.root / "etc/yum.repos.d").glob("*.repo")] == ["ngp.repo"]
    assert (done.root / "etc/yum.repos.d/ngp-unused/CentOS-Base.repo").exists()
    installs = done.called("yum install")
    assert installs[-1] == ("yum install -y docker-ce-19.03.5 docker-ce-cli-19.03.5 "
                            "containerd.io-1.2.13")
    assert "yum-plugin-versionlock" in installs[0]
    locked = done.calls.index("yum versionlock add docker-ce docker-ce-cli containerd.io")
    assert done.calls.index(installs[-1]) < locked
    assert "systemctl enable --now docker chronyd" in done.calls
    assert done.called("curl -fsSL -o") and any(
        "awscli-exe-linux-x86_64-2.17.51.zip" in c for c in done.calls)
    assert "installed as master" in done.log and done.log.rstrip().endswith("done")
    assert not done.called("aws ec2 create-tags") and not done.console


def test_docker_trusts_the_private_registry_before_it_starts(scripts, tmp_path):
    """The registry is plain HTTP at its VIP: Docker refuses to pull from it unless it is
    an insecure registry in daemon.json, read when Docker starts."""
    done = run(scripts["agent_registry"], tmp_path)
    assert done.code == 0, done.output + done.log
    started = done.calls.index("systemctl enable --now docker chronyd")
    assert done.calls[started + 1] == 'daemon.json {"insecure-registries":["192.168.0.1/32"]}'
    plain = run(scripts["master"], tmp_path / "no-registry")
    assert plain.code == 0, plain.output + plain.log
    assert 'daemon.json {}' in plain.calls


def test_a_failed_prerequisite_stops_the_node_with_its_reason(scripts, tmp_path):
    done = run(scripts["agent"], tmp_path, fail="yum install -y docker-ce*")
    assert done.code == 1
    reason = ("docker: yum could not install docker-ce-19.03.5 docker-ce-cli-19.03.5 "
              "containerd.io-1.2.13")
    assert f"FAILED: {reason}" in done.log
    assert len(done.called("yum install -y docker-ce")) == 10  # retried, bounded
    assert not done.called("systemctl") and "dcos_install.sh" not in " ".join(done.calls)
    assert done.console == f"ngp-dcos: install failed: {reason}\n"
    assert done.called("aws ec2 create-tags") == [
        "aws ec2 create-tags --region eu-west-1 --resources i-0123456789abcdef0 --tags "
        f"Key=ngp:install,Value=failed:{reason}"]


def test_a_docker_other_than_the_supported_one_stops_the_node(scripts, tmp_path):
    done = run(scripts["master"], tmp_path, docker_found="29.1.0")
    assert done.code == 1
    assert "docker: 29.1.0 is running, DC/OS 2.2 is supported on 19.03.5" in done.log


def test_the_wrong_os_stops_before_any_package(scripts, tmp_path):
    done = run(scripts["master"], tmp_path, os_release=UBUNTU)
    assert done.code == 1
    assert "FAILED: os: DC/OS 2.2 nodes here run CentOS 7, this is ubuntu 22.04" in done.log
    assert not done.called("yum")
    # No AWS CLI yet: the reason goes to the console only.
    assert not done.called("aws") and "install failed: os:" in done.console


def test_an_unexpected_failure_is_reported_with_its_line(scripts, tmp_path):
    # A step with no reason of its own (groupadd) fails: the ERR trap names the line.
    done = run(scripts["master"], tmp_path, fail="@(getent|groupadd) *docker")
    assert done.code == 1
    assert "FAILED: line" in done.log and "groupadd docker exited 1" in done.log
    assert done.called("aws ec2 create-tags")


@pytest.mark.parametrize("name", ["bootstrap_s3", "bootstrap_url"])
def test_the_bootstrap_node_checks_the_installer_before_running_it(scripts, tmp_path, name):
    done = run(scripts[name], tmp_path)
    assert done.code == 0, done.output + done.log
    assert "dcos_generate_config.sh: OK" in done.log
    assert "generated the install" in done.log
    fetch = (done.called("aws s3 cp") if name == "bootstrap_s3" else
             [c for c in done.called("curl") if "archive.example" in c])
    assert fetch == (["aws s3 cp --region eu-west-1 s3://ngp-exhibitor-t-123456789012/"
                      "installer/dcos_generate_config.sh dcos_generate_config.sh"]
                     if name == "bootstrap_s3" else
                     ["curl -fsSL -o dcos_generate_config.sh "
                      "https://archive.example/dcos_generate_config.sh"])
    assert done.called("docker run -d --restart=always --name ngp-dcos-bootstrap")


@pytest.mark.parametrize("name", ["bootstrap_s3", "bootstrap_url"])
def test_a_wrong_installer_hash_stops_the_bootstrap_node(scripts, tmp_path, name):
    done = run(scripts[name], tmp_path, installer="#!/bin/sh\necho tampered\n")
    assert done.code == 1
    found = hashlib.sha256(b"#!/bin/sh\necho tampered\n").hexdigest()
    assert (f"FAILED: installer: dcos_generate_config.sh has sha256 {found}, "
            f"not {INSTALLER_SHA256}") in done.log
    assert "tampered" not in done.log.replace(found, "")  # never run
    assert not done.called("docker run")
    [tag] = done.called("aws ec2 create-tags")
    assert f"Value=failed:installer: dcos_generate_config.sh has sha256 {found}" in tag


def test_the_default_installer_is_downloaded_unchecked_and_says_so(scripts, tmp_path):
    done = run(scripts["bootstrap"], tmp_path)
    assert done.code == 0, done.output + done.log
    assert "the installer is not checked" in done.log
