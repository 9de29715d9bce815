"""The network module through the engine, in-process against the strict sandbox's AWS."""

from __future__ import annotations

import ipaddress
import textwrap

import pytest
from botocore.exceptions import ClientError

from ngp import engine
from ngp.config import Project
from ngp.errors import ApplyError
from ngp.plan import Action

ENV = """
region = "us-east-1"
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


def write_env(project, name="net", azs=3, nat="single"):
    text = f'endpoint_url = "{project.endpoint}"\n' + ENV.format(azs=azs, nat=nat)
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
        f'endpoint_url = "{project.endpoint}"\n' + ENV.format(azs=2, nat="per_az"))
    actions, state = apply_plan(project, env)
    assert actions == {
        "network.subnet.public[c]": Action.DELETE, "network.subnet.private[c]": Action.DELETE,
        "network.route_table.private[c]": Action.DELETE,
        "network.route_table_association.public[c]": Action.DELETE,
        "network.route_table_association.private[c]": Action.DELETE,
        "network.eip.nat[b]": Action.CREATE, "network.nat[b]": Action.CREATE,
        "network.route_table.private[b]": Action.UPDATE,
    }
    assert state.resources["network.route_table.private[b]"].spec["routes"] == [
        {"cidr": "0.0.0.0/0", "nat_gateway_id": state.resources["network.nat[b]"].id}]
    assert apply_plan(project, env)[0] == {}


def test_an_instance_adopted_after_a_killed_create_is_kept_not_replaced(project):
    """A run killed after RunInstances leaves an intent; the next run adopts the instance
    with the spec it was made from (user data is not in any read), so nothing is replaced."""
    from ngp.state import Pending, now

    (project.envs_dir / "vm.toml").write_text(f'endpoint_url = "{project.endpoint}"\n'
                                              + ENV.format(azs=1, nat="none")
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
