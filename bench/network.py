"""Benchmark: the network module in the sandbox, against plain boto3 calls for the same objects
(the network module also makes the env's SSH key, a secret and a key pair, which the script
does not: 27 resources against 25 objects).

    python bench/network.py                    # 0 ms and 50 ms added to every AWS request
    python bench/network.py --latency-ms 50 --runs 3

For each latency, a fresh sandbox (moto's server, the delay added on the server side) and:
`up` from empty, a no-op `plan`, a plan with the state file gone (every object adopted by its
tags), `down`: wall time and API calls by operation; then the same
objects made by plain boto3 calls, in sequence and on a thread pool level by level, as the
floor a hand-written script reaches. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
    os.environ.pop(var, None)

from ngp import engine  # noqa: E402
from ngp.aws import Aws  # noqa: E402
from ngp.config import Project  # noqa: E402
from ngp.sandbox import control  # noqa: E402


class Quiet:
    def started(self, op: Any) -> None: ...
    def finished(self, op: Any, seconds: float) -> None: ...
    def failed(self, op: Any, error: Any) -> None: print(f"  failed: {error.line()}")
    def still_running(self, ops: Any) -> None: ...
    def progress(self, message: str) -> None: ...
    def note(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...


def ngp_command(project: Project, env: str, command: str) -> tuple[float, Counter[str], int]:
    """One ngp command in-process: wall time, API calls by operation, changes made."""
    t0 = time.perf_counter()
    with engine.open_run(project, env, command, Quiet()) as run:
        plan = engine.plan(run, destroy=command == "down")
        changes = len(plan.actionable)
        if command != "plan" and plan.actionable:
            engine.check(engine.apply(run, plan))
        return time.perf_counter() - t0, Counter(run.aws.calls), changes


def boto3_network(aws: Aws, tag: str, parallel: bool) -> float:
    """The same network with plain boto3 calls: what a careful script does, no state,
    no reads. Level by level; in parallel within a level when asked."""
    t0 = time.perf_counter()
    ec2 = aws.client("ec2")
    pool = ThreadPoolExecutor(max_workers=10)

    def level(*calls: Any) -> list[Any]:
        if parallel:
            return list(pool.map(lambda call: call(), calls))
        return [call() for call in calls]

    def tags(kind: str, name: str) -> list[dict]:
        return [{"ResourceType": kind, "Tags": [{"Key": "ngp:env", "Value": tag},
                                                {"Key": "Name", "Value": name}]}]

    azs = ["us-east-1a", "us-east-1b", "us-east-1c"]
    vpc_r, eip_r, igw_r = level(
        lambda: ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=tags("vpc", "v")),
        lambda: ec2.allocate_address(Domain="vpc", TagSpecifications=tags("elastic-ip", "e")),
        lambda: ec2.create_internet_gateway(TagSpecifications=tags("internet-gateway", "i")))
    vpc = vpc_r["Vpc"]["VpcId"]
    igw = igw_r["InternetGateway"]["InternetGatewayId"]
    subnet_calls = [
        (lambda i=i, az=az, pub=pub: ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{(i + (0 if pub else 8)) * 16}.0/20", AvailabilityZone=az,
            TagSpecifications=tags("subnet", f"s{i}{pub}")))
        for pub in (True, False) for i, az in enumerate(azs)]
    sg_calls = [(lambda n=n: ec2.create_security_group(
        GroupName=f"g{n}", Description="d", VpcId=vpc,
        TagSpecifications=tags("security-group", f"g{n}"))) for n in range(5)]
    rt_calls = [(lambda n=n: ec2.create_route_table(
        VpcId=vpc, TagSpecifications=tags("route-table", f"r{n}"))) for n in range(4)]
    out = level(
        lambda: ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True}),
        lambda: ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True}),
        lambda: ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc),
        *subnet_calls, *sg_calls, *rt_calls)
    subnets = [r["Subnet"]["SubnetId"] for r in out[3:9]]
    groups = [r["GroupId"] for r in out[9:14]]
    tables = [r["RouteTable"]["RouteTableId"] for r in out[14:18]]
    nat_r, *_ = level(
        lambda: ec2.create_nat_gateway(SubnetId=subnets[0], AllocationId=eip_r["AllocationId"],
                                       TagSpecifications=tags("natgateway", "n")),
        *[(lambda s=s: ec2.modify_subnet_attribute(SubnetId=s, MapPublicIpOnLaunch={
            "Value": True})) for s in subnets[:3]],
        *[(lambda g=g: ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])) for g in groups],
        lambda: ec2.create_route(RouteTableId=tables[0], DestinationCidrBlock="0.0.0.0/0",
                                 GatewayId=igw),
        *[(lambda s=s: ec2.associate_route_table(SubnetId=s, RouteTableId=tables[0]))
          for s in subnets[:3]],
        *[(lambda s=s, t=t: ec2.associate_route_table(SubnetId=s, RouteTableId=t))
          for s, t in zip(subnets[3:], tables[1:], strict=True)])
    nat = nat_r["NatGateway"]["NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat],
                                                 WaiterConfig={"Delay": 1})
    level(*[(lambda t=t: ec2.create_route(RouteTableId=t, DestinationCidrBlock="0.0.0.0/0",
                                          NatGatewayId=nat)) for t in tables[1:]])
    pool.shutdown()
    return time.perf_counter() - t0


def fmt_calls(calls: Counter[str]) -> str:
    return ", ".join(f"{op.split('.', 1)[1]} {n}" for op, n in sorted(calls.items()))


def bench(latency_ms: float, runs: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="ngp-bench-"))
    shutil.copytree(REPO / "envs", home / "envs")
    # The network module alone, as the figures compare it with the same objects by hand.
    text = (home / "envs" / "sandbox.toml").read_text()
    text = re.sub(r"(?ms)^modules = \[.*?\]", 'modules = ["network"]', text)
    text = re.sub(r"(?m)^domain = .*$", "", text).split("[openvpn]")[0]
    (home / "envs" / "bench.toml").write_text(text)
    project = Project(home)
    info, _ = control.start(project, latency_ms)
    creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    # moto builds its EC2 catalogue (AMIs, instance types) on the first EC2 call, about a
    # second that real AWS does not have: pay it before measuring anything.
    Aws("us-east-1", endpoint_url=info["endpoint"], credentials=creds).client(
        "ec2").describe_vpcs()
    try:
        figures: dict[str, list[float]] = {"up": [], "plan": [], "lost plan": [], "down": [],
                                           "boto3 seq": [], "boto3 pool": []}
        calls: dict[str, Counter[str]] = {}
        changes: dict[str, int] = {}
        for run in range(runs):
            state_file = home / "state" / "bench.json"
            for label in ("up", "plan", "lost plan", "down"):
                if label == "lost plan":  # the state lost: the plan adopts all by tags
                    kept = state_file.read_bytes()
                    state_file.unlink()
                seconds, counted, changed = ngp_command(project, "bench", label.split()[-1])
                if label == "lost plan":
                    state_file.write_bytes(kept)
                figures[label].append(seconds)
                calls[label], changes[label] = counted, changed
            endpoint = info["endpoint"]
            for label, parallel in (("boto3 seq", False), ("boto3 pool", True)):
                # Like ngp, the script makes its session and client inside the figure.
                aws = Aws("us-east-1", endpoint_url=endpoint, credentials=creds)
                figures[label].append(boto3_network(aws, f"bench-{label}-{run}", parallel))
                calls[label] = Counter(aws.calls)
                changes[label] = 0
    finally:
        control.stop(project)
        shutil.rmtree(home, ignore_errors=True)

    print(f"\n== network module, sandbox, +{latency_ms:g} ms per AWS request, "
          f"median of {runs} ==")
    print(f"{'':12} {'wall s':>8} {'calls':>6}  {'changes':>7}")
    for label, values in figures.items():
        total = sum(calls[label].values())
        print(f"{label:12} {statistics.median(values):8.2f} {total:6d}  {changes[label]:7d}")
    for label in ("up", "plan", "lost plan", "down"):
        print(f"  {label} calls: {fmt_calls(calls[label])}")
    for label in ("plan", "lost plan"):
        reads = {op: n for op, n in calls[label].items() if op != "sts.GetCallerIdentity"}
        # One call per kind: each kind's refresh is one listing of what is tagged for the env
        # (the two by-find kinds, associations, look per address only when the state lacks it).
        print(f"  {label} refresh: {sum(reads.values())} calls over {len(reads)} operations, "
              f"most per operation {max(reads.values())}")
    ratio = statistics.median(figures["up"]) / statistics.median(figures["boto3 pool"])
    print(f"up / boto3-on-a-pool: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=float, nargs="*", default=[0.0, 50.0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for latency in args.latency_ms:
        bench(latency, args.runs)


if __name__ == "__main__":
    main()
