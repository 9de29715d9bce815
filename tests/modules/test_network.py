"""The network module through the engine, in-process against the strict sandbox's AWS."""

from __future__ import annotations

import ipaddress
import textwrap

import pytest
from botocore.exceptions import ClientError

from ngp import engine
from ngp.config import Project
from ngp.errors import ApplyError, NgpError
from ngp.plan import Action

ENV = """
region = "{region}"
allowed_account_ids = ["123456789012"]
modules = ["network"]
name_suffix = "t"

[network]
availability_zones = {azs}
nat = "{nat}"
admin_cidrs = ["203.0.113.0/24"]
"""


PINNED = "git+https://github.com/you/ngp@" + "0" * 40


class Collect:
    def __init__(self):
        self.lines = []

    def started(self, op): self.lines.append(("started", op.address))
    def finished(self, op, seconds): self.lines.append(("finished", op.address))
    def failed(self, op, error): self.lines.append(("failed", op.address))
    def still_running(self, ops): pass
    def progress(self, message): pass
    def note(self, message): self.lines.append(("note", message))
    def warn(self, message): self.lines.append(("warn", message))


@pytest.fixture
def project(tmp_path, strict_endpoint):
    from tests.conftest import reset_aws

    (tmp_path / "envs").mkdir()
    reset_aws(strict_endpoint)
    project = Project(tmp_path)
    project.endpoint = strict_endpoint
    return project


def write_env(project, name="net", azs=3, nat="single", region="us-east-1", extra=""):
    text = (f'endpoint_url = "{project.endpoint}"\n'
            + ENV.format(azs=azs, nat=nat, region=region) + extra)
    (project.envs_dir / f"{name}.toml").write_text(textwrap.dedent(text))
    return name


def up(project, env):
    with engine.open_run(project, env, "up", Collect()) as run:
        summary = engine.apply(run, engine.plan(run))
        engine.check(summary)
        return run.state


def noop_plan_reads(project, env):
    with engine.open_run(project, env, "plan", Collect()) as run:
        before = dict(run.aws.calls)
        plan = engine.plan(run)
        reads = {op: n - before.get(op, 0) for op, n in run.aws.calls.items()
                 if n - before.get(op, 0)}
        return plan, reads


@pytest.mark.parametrize(("azs", "nat"), [(1, "single"), (3, "per_az")])
def test_noop_plan_reads_once_per_kind_whatever_the_count(project, azs, nat):
    env = write_env(project, f"n{azs}", azs, nat)
    state = up(project, env)
    plan, reads = noop_plan_reads(project, env)
    assert not plan.has_changes
    kinds = {rec.kind for rec in state.resources.values()}
    assert sum(reads.values()) == len(kinds), reads
    assert all(op.split(".")[1].startswith(("Describe", "List", "Get")) for op in reads)


def test_layout_of_subnets_routes_and_nat_per_az(project):
    env = write_env(project, azs=3, nat="per_az")
    state = up(project, env)
    res = state.resources
    public = [res[f"network.subnet.public[{x}]"].spec for x in "abc"]
    private = [res[f"network.subnet.private[{x}]"].spec for x in "abc"]
    assert [s["az"] for s in public] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert [s["cidr"] for s in public] == ["10.0.0.0/20", "10.0.16.0/20",
                                           "10.0.32.0/20"]
    assert [s["cidr"] for s in private] == ["10.0.128.0/20", "10.0.144.0/20", "10.0.160.0/20"]
    nets = [ipaddress.ip_network(s["cidr"]) for s in public + private]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    for x in "abc":  # each private subnet leaves through the NAT of its own AZ
        nat = res[f"network.nat[{x}]"]
        assert nat.spec["subnet_id"] == res[f"network.subnet.public[{x}]"].id
        assert res[f"network.route_table.private[{x}]"].spec["routes"] == [
            {"cidr": "0.0.0.0/0", "nat_gateway_id": nat.id}]
    assert state.outputs["vpc_id"] == res["network.vpc"].id
    assert len(state.outputs["nat_public_ips"]) == 3


def test_no_nat_leaves_private_subnets_without_a_default_route(project):
    env = write_env(project, azs=2, nat="none")
    state = up(project, env)
    assert not any(a.startswith("network.nat") for a in state.resources)
    assert state.resources["network.route_table.private[a]"].spec["routes"] == []


def test_a_failure_stops_only_its_dependents_and_the_rest_is_saved(project):
    env = write_env(project, azs=2)
    reporter = Collect()

    def refuse(**kwargs):
        raise ClientError({"Error": {"Code": "NatGatewayLimitExceeded", "Message": "limit"}},
                          "CreateNatGateway")

    with engine.open_run(project, env, "up", reporter) as run:
        run.aws.client("ec2").meta.events.register("before-call.ec2.CreateNatGateway", refuse)
        summary = engine.apply(run, engine.plan(run))
        with pytest.raises(ApplyError) as exc:
            engine.check(summary)
    assert "network.nat[a]" in exc.value.line() and "NatGatewayLimitExceeded" in exc.value.line()
    assert set(summary.failures) == {"network.nat[a]"}
    assert set(summary.skipped) == {"network.route_table.private[a]",
                                    "network.route_table.private[b]",
                                    "network.route_table_association.private[a]",
                                    "network.route_table_association.private[b]"}
    state = project_state(project, env)
    assert "network.sg.admin" in state.resources and "network.nat[a]" not in state.resources

    # Without the fault, the next run does only what is left.
    with engine.open_run(project, env, "up", Collect()) as run:
        plan = engine.plan(run)
        assert {c.address for c in plan.changes if c.action == Action.CREATE} == {
            "network.nat[a]", *summary.skipped}
        engine.check(engine.apply(run, plan))


def project_state(project, env):
    from ngp.state import LocalStore

    return LocalStore(project.state_dir, env).load()


def apply_plan(project, env):
    with engine.open_run(project, env, "up", Collect()) as run:
        plan = engine.plan(run)
        engine.check(engine.apply(run, plan))
        return {c.address: c.action for c in plan.actionable}, run.state


def test_renaming_replaces_the_groups_and_retags_the_rest(project):
    env = write_env(project, azs=1)
    before = up(project, env)
    text = (project.envs_dir / f"{env}.toml").read_text()
    (project.envs_dir / f"{env}.toml").write_text(text.replace('name_suffix = "t"',
                                                               'name_suffix = "t2"'))
    actions, after = apply_plan(project, env)
    groups = [a for a in before.resources if a.startswith("network.sg.")]
    assert {a: actions[a] for a in groups} == dict.fromkeys(groups, Action.REPLACE)
    assert actions["network.vpc"] == Action.UPDATE
    assert "network.route_table_association.public[a]" not in actions
    for address in groups:
        assert after.resources[address].id != before.resources[address].id
    assert after.resources["network.vpc"].id == before.resources["network.vpc"].id
    ec2 = engine.connect(project, project.load(env)).client("ec2")
    names = {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert "ngp-admin-t2" in names and "ngp-admin-t" not in names
    assert apply_plan(project, env)[0] == {}


def test_fewer_azs_delete_the_last_ones_and_more_nats_reroute(project):
    env = write_env(project, azs=3)
    up(project, env)
    (project.envs_dir / f"{env}.toml").write_text(
        f'endpoint_url = "{project.endpoint}"\n' + ENV.format(azs=2, nat="per_az",
                                                             region="us-east-1"))
    actions, state = apply_plan(project, env)
    assert actions == {
        "network.subnet.public[c]": Action.DELETE, "network.subnet.private[c]": Action.DELETE,
        "network.route_table.private[c]": Action.DELETE,
        "network.route_table_association.public[c]": Action.DELETE,
        "network.route_table_association.private[c]": Action.DELETE,
        "network.eip.nat[b]": Action.CREATE, "network.nat[b]": Action.CREATE,
        "network.route_table.private[b]": Action.UPDATE,
        # The new NAT's address may reach the masters' balancer too.
        "network.sg.master_lb": Action.UPDATE,
    }
    assert state.resources["network.route_table.private[b]"].spec["routes"] == [
        {"cidr": "0.0.0.0/0", "nat_gateway_id": state.resources["network.nat[b]"].id}]
    assert apply_plan(project, env)[0] == {}


def test_an_instance_adopted_after_a_killed_create_is_kept_not_replaced(project):
    """A run killed after RunInstances leaves an intent; the next run adopts the instance
    with the spec it was made from (user data is not in any read), so nothing is replaced."""
    from ngp.state import Pending, now

    (project.envs_dir / "vm.toml").write_text(f'endpoint_url = "{project.endpoint}"\n'
                                              + ENV.format(azs=1, nat="none",
                                                           region="us-east-1")
                                              .replace('modules = ["network"]',
                                                       'modules = ["network", "manager"]')
                                              + '\n[manager]\nimage_name = "amzn2-ami-hvm-*"\n'
                                              + f'ngp_package = "{PINNED}"\n')
    up(project, "vm")
    # As a run killed right after RunInstances leaves it:
    with engine.open_run(project, "vm", "up", Collect()) as run, run.saving() as state:
        rec = state.resources.pop("manager.instance")
        state.pending["manager.instance"] = Pending("create", rec.kind, now(), rec.spec,
                                                    None, rec.deps, rec.module)
    reporter = Collect()
    with engine.open_run(project, "vm", "plan", reporter) as run:
        assert run.state.resources["manager.instance"].id == rec.id
        assert ("note", f"manager.instance: adopted {rec.id}, created by an interrupted "
                "run") in reporter.lines
        assert not engine.plan(run).has_changes


# -- zones as the region has them ----------------------------------------------------------

def test_zones_are_read_from_the_region_not_assumed(project):
    """ap-northeast-1 has a, c and d: the old `<region>a, b, c` made a subnet in
    ap-northeast-1b, which AWS refuses (InvalidParameterValue)."""
    env = write_env(project, azs=3, region="ap-northeast-1")
    state = up(project, env)
    public = {a: r.outputs for a, r in state.resources.items()
              if a.startswith("network.subnet.public")}
    assert {a: (o["az"], o["cidr"]) for a, o in public.items()} == {
        "network.subnet.public[a]": ("ap-northeast-1a", "10.0.0.0/20"),
        "network.subnet.public[c]": ("ap-northeast-1c", "10.0.16.0/20"),
        "network.subnet.public[d]": ("ap-northeast-1d", "10.0.32.0/20")}


def test_a_local_zone_in_the_answer_is_skipped(project):
    """us-east-1 lists an opted-in Local Zone (us-east-1-bos-1a): never a subnet's zone."""
    env = write_env(project, azs=6)
    state = up(project, env)
    zones = {r.outputs["az"] for a, r in state.resources.items() if a.startswith("network.sub")}
    assert zones == {f"us-east-1{x}" for x in "abcdef"}


def test_zones_are_read_once_and_only_when_the_state_lacks_some(project):
    env = write_env(project, azs=2)
    with engine.open_run(project, env, "up", Collect()) as run:
        assert run.aws.calls["ec2.DescribeAvailabilityZones"] == 1
        engine.check(engine.apply(run, engine.plan(run)))
    plan, reads = noop_plan_reads(project, env)
    assert "ec2.DescribeAvailabilityZones" not in reads and not plan.has_changes


def test_existing_subnets_keep_their_zones_and_addresses(project):
    """Subnets made in c and a (zone_names) stay where they are once zone_names is gone, and
    a third zone is added after them: no subnet moves because zones are read."""
    env = write_env(project, azs=2, extra='zone_names = ["us-east-1c", "us-east-1a"]\n')
    before = up(project, env)
    write_env(project, azs=2)
    actions, after = apply_plan(project, env)
    assert actions == {}
    write_env(project, azs=3)
    actions, after = apply_plan(project, env)
    assert {a for a, action in actions.items() if a.startswith("network.subnet")} == {
        "network.subnet.public[b]", "network.subnet.private[b]"}
    assert set(actions.values()) == {Action.CREATE}
    kept = ("network.subnet.public[c]", "network.subnet.public[a]")
    assert [after.resources[a].id for a in kept] == [before.resources[a].id for a in kept]
    assert after.resources["network.subnet.public[b]"].outputs["cidr"] == "10.0.32.0/20"


def test_a_run_killed_before_recording_the_first_zone_keeps_every_subnet_where_it_is(project):
    """A kill can leave the state with zone b's subnets recorded and zone a's and c's only
    as intents (CI found it): each recorded zone keeps its slot, the others are filled
    around it, and the resumed run adopts every subnet where it is, replacing none (the old
    rule put the recorded zones first: b took slot 0, and four subnets were replaced)."""
    from ngp.state import Pending, now

    env = write_env(project, azs=3)
    before = up(project, env)
    interrupted = [f"network.subnet.{tier}[{letter}]" for tier in ("public", "private")
                   for letter in "ac"]
    with engine.open_run(project, env, "up", Collect()) as run, run.saving() as state:
        for address in interrupted:
            rec = state.resources.pop(address)
            state.pending[address] = Pending("create", rec.kind, now(), rec.spec, None,
                                             rec.deps, rec.module)
    with engine.open_run(project, env, "plan", Collect()) as run:
        assert run.settings.zones == ("us-east-1a", "us-east-1b", "us-east-1c")
        assert {a: run.state.resources[a].id for a in interrupted} == {
            a: before.resources[a].id for a in interrupted}
        assert not engine.plan(run).has_changes


def test_zone_names_the_region_lacks_are_one_line_before_any_change(project):
    env = write_env(project, azs=2, region="ap-northeast-1",
                    extra='zone_names = ["ap-northeast-1a", "ap-northeast-1b"]\n')
    with pytest.raises(NgpError) as caught, engine.open_run(project, env, "up", Collect()):
        pass
    line = caught.value.line()
    assert "'ap-northeast-1b' is not an Availability Zone of ap-northeast-1" in line
    assert f"{env}.toml: network.zone_names" in line
    assert not project_state(project, env).resources


def test_more_zones_than_the_region_has_are_one_line(project):
    env = write_env(project, azs=4, region="ap-northeast-1")
    with pytest.raises(NgpError) as caught, engine.open_run(project, env, "up", Collect()):
        pass
    assert "ap-northeast-1 has 3 Availability Zones" in caught.value.line()
    assert "network.availability_zones" in caught.value.line()


# -- order: the internet gateway's attachment first, its detachment last -------------------

def slow(run, operation, seconds=0.5):
    import time

    run.aws.client("ec2").meta.events.register(
        f"before-call.ec2.{operation}", lambda **kwargs: time.sleep(seconds))


def test_the_nat_gateway_waits_for_the_internet_gateways_attachment(project):
    """The old graph let the NAT gateway (the longest chain) start before the gateway was
    attached: AWS fails it (Gateway.NotAttached)."""
    env = write_env(project, azs=1)
    with engine.open_run(project, env, "up", Collect()) as run:
        slow(run, "AttachInternetGateway")
        engine.check(engine.apply(run, engine.plan(run)))
        assert run.desired.graph.resources["network.nat[a]"].deps() >= {"network.igw"}
    nat = project_state(project, env).resources["network.nat[a]"]
    ec2 = engine.connect(project, project.load(env)).client("ec2")
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat.id])["NatGateways"][0][
        "State"] == "available"


def test_down_detaches_the_gateway_once_nothing_maps_a_public_address(project):
    """NAT gateways and instances in public subnets go first: the detach is not refused
    (DependencyViolation, mapped public addresses) and needs one call."""
    env = write_env(project, "vm", azs=1)
    text = (project.envs_dir / "vm.toml").read_text()
    (project.envs_dir / "vm.toml").write_text(
        text.replace('modules = ["network"]', 'modules = ["network", "manager"]')
        + '\n[manager]\nimage_name = "amzn2-ami-hvm-*"\n'
        + f'ngp_package = "{PINNED}"\n')
    up(project, env)
    with engine.open_run(project, env, "down", Collect()) as run:
        slow(run, "DeleteNatGateway", 0.3)
        slow(run, "TerminateInstances", 0.3)
        engine.check(engine.apply(run, engine.plan(run, destroy=True)))
        assert run.aws.calls["ec2.DetachInternetGateway"] == 1
        assert not run.state.resources


def test_zones_without_the_envs_instance_types_are_skipped(project):
    """us-east-1e offers no t3 (nor m5): an env whose machines are t3 must not have a subnet
    there, where RunInstances answers Unsupported (rule ec2.instance-type-offerings)."""
    env = write_env(project, azs=5)
    path = project.envs_dir / f"{env}.toml"
    path.write_text(path.read_text().replace('modules = ["network"]',
                                             'modules = ["network", "manager"]')
                    + '\n[manager]\nimage_name = "amzn2-ami-hvm-*"\n'
                    + f'ngp_package = "{PINNED}"\n')
    with engine.open_run(project, env, "plan", Collect()) as run:
        zones = run.settings.zones
    assert zones == tuple(f"us-east-1{x}" for x in "abcdf")
    path.write_text(path.read_text().replace("availability_zones = 5",
                                             "availability_zones = 6"))
    with pytest.raises(NgpError) as caught, engine.open_run(project, env, "plan", Collect()):
        pass
    assert "has 5 Availability Zones that offer t3.micro" in caught.value.line()
    assert "network.availability_zones" in caught.value.line()
