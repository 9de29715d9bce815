"""Helpers of the end-to-end and reliability tests: a project folder with its own sandbox, the
real `ngp` command in subprocesses, and what the sandbox holds tagged with an env."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]


class Home:
    """A project folder (envs/, state/) with its own sandbox."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(REPO / "envs", root / "envs")

    def ngp(self, *args: str, timeout: float = 180, check: bool | None = None,
            **kwargs) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "ngp", *args], cwd=self.root,
                              env={**os.environ, "NGP_HOME": str(self.root)},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, **kwargs)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "ngp", *args], cwd=self.root,
                                env={**os.environ, "NGP_HOME": str(self.root)},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def env(self, name: str, text: str | None = None, full: bool = False,
            modules: str | None = None, **replace: str) -> str:
        """Write envs/<name>.toml: the sandbox env under another name (by default with the
        network module alone; full=True keeps every module; modules='["network", ...]' those,
        with the domain <name>.ngp.test), or text."""
        body = text or (REPO / "envs" / "sandbox.toml").read_text().replace(
            'name_suffix = "sandbox"', f'name_suffix = "{name}"')
        if modules:
            body = re.sub(r"(?ms)^modules = \[.*?\]", f"modules = {modules}", body).replace(
                'domain = "sandbox.ngp.test"', f'domain = "{name}.ngp.test"')
        elif not text and not full:
            body = re.sub(r"(?ms)^modules = \[.*?\]", 'modules = ["network"]', body)
            body = re.sub(r"(?m)^domain = .*$", "", body)
            body = body.split("[openvpn]")[0]
        for old, new in replace.items():
            assert old in body, old
            body = body.replace(old, new)
        (self.root / "envs" / f"{name}.toml").write_text(body)
        return name

    def state(self, env: str) -> dict:
        return json.loads((self.root / "state" / f"{env}.json").read_text())

    def sandbox(self) -> dict:
        return json.loads((self.root / "state" / "sandbox" / "server.json").read_text())

    def ec2(self):
        return self.client("ec2")

    def tagged(self, env: str) -> dict[str, set[str]]:
        """Every EC2 object in the sandbox tagged with the env, by type."""
        ec2 = self.ec2()
        flt = [{"Name": "tag:ngp:env", "Values": [env]}]
        nats = ec2.describe_nat_gateways(Filter=flt)["NatGateways"]
        machines = [i for r in ec2.describe_instances(Filters=flt)["Reservations"]
                    for i in r["Instances"] if i["State"]["Name"] != "terminated"]
        return {
            "vpc": {v["VpcId"] for v in ec2.describe_vpcs(Filters=flt)["Vpcs"]},
            "subnet": {s["SubnetId"] for s in ec2.describe_subnets(Filters=flt)["Subnets"]},
            "igw": {g["InternetGatewayId"] for g in
                    ec2.describe_internet_gateways(Filters=flt)["InternetGateways"]},
            "eip": {a["AllocationId"] for a in ec2.describe_addresses(Filters=flt)["Addresses"]},
            # moto ignores tag filters on NAT gateways and path prefixes on profiles: the
            # helper checks both itself, or another env's leftovers would count as this one's.
            "nat": {n["NatGatewayId"] for n in nats if n["State"] not in ("deleted", "failed")
                    and {t["Key"]: t["Value"] for t in n.get("Tags", [])}.get("ngp:env") == env},
            "rtb": {r["RouteTableId"] for r in
                    ec2.describe_route_tables(Filters=flt)["RouteTables"]},
            "sg": {g["GroupId"] for g in ec2.describe_security_groups(Filters=flt)[
                "SecurityGroups"]},
            "key_pair": {k["KeyName"] for k in ec2.describe_key_pairs(Filters=flt)["KeyPairs"]},
            "instance": {i["InstanceId"] for i in machines if not _of_group(i)},
            "group_instance": {i["InstanceId"] for i in machines if _of_group(i)},
            "launch_template": {t["LaunchTemplateId"] for t in ec2.describe_launch_templates(
                Filters=flt)["LaunchTemplates"]},
            "group": {g["AutoScalingGroupName"] for g in self.client(
                "autoscaling").describe_auto_scaling_groups(Filters=[
                    {"Name": "tag:ngp:env", "Values": [env]}])["AutoScalingGroups"]},
            "lb": self.load_balancers(env),
            **self.services(env),
            "secret": {s["ARN"] for s in self.client("secretsmanager").list_secrets(Filters=[
                {"Key": "tag-key", "Values": ["ngp:env"]},
                {"Key": "tag-value", "Values": [env]}])["SecretList"]},
            "role": {r["RoleName"] for r in self.client("iam").list_roles(
                PathPrefix=f"/ngp/{env}/")["Roles"] if r["Path"] == f"/ngp/{env}/"},
            "profile": {p["InstanceProfileName"] for p in self.client(
                "iam").list_instance_profiles(PathPrefix=f"/ngp/{env}/")["InstanceProfiles"]
                if p["Path"] == f"/ngp/{env}/"},
            "policy": {p["Arn"] for p in self.client("iam").list_policies(
                Scope="Local", PathPrefix=f"/ngp/{env}/")["Policies"]
                if p["Path"] == f"/ngp/{env}/"},
            "bucket": {b for b in self.buckets() if self.bucket_env(b) == env},
            "app": {a["id"] for a in self.marathon_apps()
                    if a.get("labels", {}).get("NGP_ENV") == env},
        }

    def services(self, env: str) -> dict[str, set[str]]:
        """ECR repositories, OpenSearch domains, Lambda functions, EventBridge rules, REST
        APIs and log groups tagged with the env."""
        def ours(tags: dict[str, str] | list[dict[str, str]]) -> bool:
            if isinstance(tags, list):
                tags = {t["Key"]: t["Value"] for t in tags}
            return tags.get("ngp:env") == env

        ecr, search = self.client("ecr"), self.client("opensearch")
        functions, events = self.client("lambda"), self.client("events")
        logs = self.client("logs")
        return {
            "repository": {r["repositoryName"] for r in ecr.describe_repositories()[
                "repositories"] if ours(ecr.list_tags_for_resource(
                    resourceArn=r["repositoryArn"])["tags"])},
            "domain": {d["DomainName"] for d in search.list_domain_names()["DomainNames"]
                       if ours(search.list_tags(ARN=search.describe_domain(
                           DomainName=d["DomainName"])["DomainStatus"]["ARN"])["TagList"])},
            "function": {f["FunctionName"] for f in functions.list_functions()["Functions"]
                         if ours(functions.list_tags(Resource=f["FunctionArn"])["Tags"])},
            "rule": {r["Name"] for r in events.list_rules()["Rules"]
                     if ours(events.list_tags_for_resource(ResourceARN=r["Arn"])["Tags"])},
            "rest_api": {a["id"] for a in self.client("apigateway").get_rest_apis()["items"]
                         if ours(a.get("tags") or {})},
            "log_group": {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]
                          if ours(logs.list_tags_for_resource(
                              resourceArn=g["arn"].removesuffix(":*"))["tags"])},
        }

    def load_balancers(self, env: str) -> set[str]:
        elb = self.client("elb")
        names = [d["LoadBalancerName"] for d in
                 elb.describe_load_balancers()["LoadBalancerDescriptions"]]
        if not names:
            return set()
        described = elb.describe_tags(LoadBalancerNames=names)["TagDescriptions"]
        return {d["LoadBalancerName"] for d in described
                if {t["Key"]: t["Value"] for t in d["Tags"]}.get("ngp:env") == env}

    def buckets(self) -> list[str]:
        return [b["Name"] for b in self.client("s3").list_buckets()["Buckets"]]

    def bucket_env(self, bucket: str) -> str | None:
        try:
            tags = self.client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
        except Exception:  # untagged
            return None
        return {t["Key"]: t["Value"] for t in tags}.get("ngp:env")

    def marathon_apps(self) -> list[dict]:
        import httpx

        return httpx.get(f"{self.sandbox()['marathon_url']}/v2/apps").json()["apps"]

    def client(self, service: str):
        from botocore.config import Config

        # Adaptive retries, as ngp's own clients: a faulty sandbox throttles the tests too.
        return boto3.client(service, endpoint_url=self.sandbox()["endpoint"],
                            region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing",
                            config=Config(retries={"mode": "adaptive", "max_attempts": 10}))

    def stop(self) -> None:
        self.ngp("sandbox", "stop", timeout=30)
        info = self.root / "state" / "sandbox" / "server.json"
        if info.exists():  # belt and braces: never leave a server behind
            with contextlib.suppress(ProcessLookupError, ValueError, KeyError):
                os.kill(json.loads(info.read_text())["pid"], signal.SIGKILL)


def _of_group(instance: dict) -> bool:
    return any(t["Key"] == "aws:autoscaling:groupName" for t in instance.get("Tags", []))


def all_ids(tagged: dict[str, set[str]]) -> set[str]:
    """Everything tagged with the env, the machines its groups launched included."""
    return set().union(*tagged.values())


def owned_ids(tagged: dict[str, set[str]]) -> set[str]:
    """What the state must know: all but the machines of groups (their group owns them)."""
    return all_ids({k: v for k, v in tagged.items() if k != "group_instance"})


UNTAGGABLE = ("ec2.route_table_association", "ec2.eip_association", "route53.record",
              "route53.zone", "ec2.image", "marathon.ready", "lambda.permission",
              "events.target", "apigateway.stage")


def state_ids(state: dict) -> set[str]:
    """The ids of the recorded objects that carry the env's tags."""
    return {r["id"] for r in state["resources"].values() if r["kind"] not in UNTAGGABLE}


PROGRESS = re.compile(r"[A-Z].*\.\.\.")  # a phase's line: capitalised (not error:), ends in ...


def one_error_line(stderr: str) -> str:
    """The one error line of stderr; progress lines ("Refreshing 3 resources...", said by a
    phase slower than half a second, so on a busy machine only) may come before it."""
    lines = [line for line in stderr.strip().splitlines()
             if line.strip() and not PROGRESS.fullmatch(line)]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert re.match(r"^error: ", lines[0]), lines[0]
    return lines[0]


def read_until(fd: int, text: str, timeout: float = 60.0) -> str:
    """Read a pty until text shows (or fail after timeout)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} never showed: {seen.decode(errors='replace')[-2000:]}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the other side closed
                break
    return seen.decode(errors="replace")


def race_at_prompt(home: Home, env: str, while_held: Callable[[], None] = lambda: None
                   ) -> None:
    """A first `ngp up` sits at its confirmation prompt, in a terminal, holding the env's
    lock: a second `ngp up --yes` fails within seconds naming it; then the first finishes."""
    primary, secondary = pty.openpty()
    first = subprocess.Popen([sys.executable, "-m", "ngp", "up", "--env", env],
                             cwd=home.root, env={**os.environ, "NGP_HOME": str(home.root)},
                             stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    try:
        read_until(primary, "Apply these changes")
        t0 = time.monotonic()
        second = home.ngp("up", "--env", env, "--yes", timeout=30)
        assert time.monotonic() - t0 < 10
        assert second.returncode == 1
        assert f"locked by `ngp up` (pid {first.pid}" in one_error_line(second.stderr)
        while_held()
        os.write(primary, b"y\n")
        read_until(primary, "Apply complete")
        assert first.wait(timeout=60) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        os.close(primary)
