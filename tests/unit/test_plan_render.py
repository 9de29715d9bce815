"""The plan as text: grouped by module, JSON and multi-line text as line diffs, long values
folded, secrets hidden. Plans are built by hand; no AWS."""

from __future__ import annotations

import json

from rich.console import Console

from ngp import diffs, render
from ngp.graph import UNKNOWN
from ngp.plan import Action, Change, FieldChange, Plan


def text(plan: Plan) -> str:
    console = Console(record=True, width=200, force_terminal=False)
    render.print_plan(console, plan)
    return console.export_text()


def policy(cidrs: list[str]) -> dict:
    statements = [{"Sid": f"S{i}", "Effect": "Allow", "Action": [f"svc:Do{i}", f"svc:Get{i}"],
                   "Resource": f"arn:aws:svc:::thing/{i}"} for i in range(6)]
    statements.append({"Sid": "FromThere", "Effect": "Allow", "Action": "es:ESHttp*",
                       "Principal": {"AWS": "*"}, "Resource": "arn:aws:es:::domain/x/*",
                       "Condition": {"IpAddress": {"aws:SourceIp": cidrs}}})
    return {"Version": "2012-10-17", "Statement": statements}


def update(address: str, *fields: FieldChange, module: str = "elk",
           action: Action = Action.UPDATE) -> Change:
    return Change(address=address, kind="test.kind", action=action, fields=fields,
                  id="x-1", module=module)


def plan_of(*changes: Change) -> Plan:
    return Plan(env="t", changes=changes)


def test_a_policy_update_shows_only_the_changed_lines_and_their_context():
    old, new = policy(["10.0.0.0/16"]), policy(["10.0.0.0/16", "198.51.100.7/32"])
    shown = text(plan_of(update("elk.domain", FieldChange("access_policy", old, new))))
    lines = shown.splitlines()
    assert "      ~ access_policy:" in lines
    changed = [" ".join(line.split()) for line in lines if line.lstrip().startswith(("+", "-"))]
    assert changed == ['- "10.0.0.0/16"', '+ "10.0.0.0/16",', '+ "198.51.100.7/32"']
    folds = [line.strip() for line in lines if line.lstrip().startswith("…")]
    assert folds and all(f.endswith("unchanged lines") for f in folds)
    body = len(json.dumps(new, indent=2).splitlines())
    assert len(lines) < body / 2  # not the whole document, let alone both
    assert '"Version"' not in shown and json.dumps(old) not in shown


def test_keys_are_sorted_so_key_order_alone_changes_no_line():
    old = {"b": 1, "a": {"y": [1, 2, 3], "x": "long enough to be a block of its own lines"}}
    new = {"a": {"x": "long enough to be a block of its own lines", "y": [1, 2, 4]}, "b": 1}
    assert diffs.as_lines(old) is not None
    changes = [m for m, _ in diffs.line_diff(diffs.as_lines(old), diffs.as_lines(new))]
    assert changes.count("-") == 1 and changes.count("+") == 1


def test_a_user_data_change_is_a_line_diff_with_the_rest_folded():
    script = [f"echo step {i}" for i in range(40)]
    old = "#!/bin/bash\n" + "\n".join(script) + "\n"
    new = old.replace("echo step 20\n", "echo step twenty\n")
    shown = text(plan_of(update("openvpn.instance", FieldChange("user_data", old, new, True),
                                module="openvpn", action=Action.REPLACE)))
    lines = [line.strip() for line in shown.splitlines()]
    assert "~ user_data:  # forces replacement" in lines
    i = lines.index("- echo step 20")
    assert lines[i + 1] == "+ echo step twenty"
    assert lines[i - 3:i] == ["echo step 17", "echo step 18", "echo step 19"]
    assert lines[i + 2:i + 5] == ["echo step 21", "echo step 22", "echo step 23"]
    assert "… 18 unchanged lines" in lines and "… 16 unchanged lines" in lines
    assert "echo step 5" not in lines


def test_line_diff_folds_long_unchanged_runs_and_shows_a_run_of_one():
    old = [str(i) for i in range(20)]
    new = [*old[:10], "ten", *old[11:]]
    assert diffs.line_diff(old, new, context=2) == [
        ("…", "8 unchanged lines"), (" ", "8"), (" ", "9"), ("-", "10"), ("+", "ten"),
        (" ", "11"), (" ", "12"), ("…", "7 unchanged lines")]
    short = [*old[:2], "two", *old[3:5]]
    assert ("…", "1 unchanged lines") not in diffs.line_diff(old[:5], short, context=1)
    assert diffs.line_diff(old[:5], short, context=1)[0] == (" ", "0")


def test_a_new_long_value_is_folded_after_its_first_lines():
    script = "#!/bin/bash\n" + "\n".join(f"echo {i}" for i in range(30))
    shown = text(plan_of(Change("openvpn.instance", "test.kind", Action.CREATE, module="openvpn",
                                fields=(FieldChange("user_data", None, script),
                                        FieldChange("name", None, "vpn")))))
    lines = [line.strip() for line in shown.splitlines()]
    i = lines.index("user_data:")
    assert lines[i + 1:i + 3] == ["#!/bin/bash", "echo 0"]
    assert lines[i + diffs.CREATE_LINES + 1] == f"… ({31 - diffs.CREATE_LINES} more lines)"
    assert 'name = "vpn"' in lines


def test_flat_records_show_one_line_each_and_short_values_stay_on_one_line():
    rules = [{"protocol": "tcp", "from_port": p, "to_port": p, "cidr": "10.0.0.0/16"}
             for p in (22, 80, 443)]
    shown = text(plan_of(Change("network.sg", "test.kind", Action.CREATE, module="network",
                                fields=(FieldChange("ingress", None, rules),
                                        FieldChange("tags", None, {"a": "b"}),
                                        FieldChange("ids", None, ["x", "y"])))))
    lines = [line.strip() for line in shown.splitlines()]
    assert "ingress: 3 items" in lines and json.dumps(rules[1]) in lines
    assert 'tags = {"a": "b"}' in lines and 'ids = ["x", "y"]' in lines


def test_secrets_stay_hidden_and_unknowns_say_so_beside_a_block():
    secret = {"secret": "arn:aws:secretsmanager:::secret:pw"}
    block = "line one\nline two\nline three"
    shown = text(plan_of(update("openvpn.instance",
                                FieldChange("password", "old-secret-value", secret),
                                FieldChange("user_data", block, UNKNOWN), module="openvpn")))
    assert "arn:aws:secretsmanager" not in shown
    assert "~ password = \"old-secret-value\" -> (hidden: ngp outputs --reveal)" in shown
    assert "~ user_data = (3 lines) -> (known after apply)" in shown
    assert "line two" not in shown


def test_changes_are_grouped_by_module_in_dependency_order_with_counts():
    def create(address: str, module: str, *deps: str) -> Change:
        return Change(address, "test.kind", Action.CREATE, module=module, deps=deps)

    plan = plan_of(
        create("api.secret", "api"), create("net.vpc", "net"),
        create("vpn.eip", "vpn"), create("net.route", "net", "vpn.eip", "net.vpc"),
        create("vpn.instance", "vpn", "net.vpc"), create("api.app", "api", "vpn.instance"),
        Change("net.old", "test.kind", Action.DELETE, module="net", id="x-9"))
    lines = text(plan).splitlines()
    heads = [line for line in lines if line and not line.startswith(" ")]
    # net and vpn need each other: together, in the order of their first change; api needs
    # vpn, so it comes after both, though its secret is the plan's first change.
    assert heads[1:4] == ["net: 2 to add, 1 to destroy", "vpn: 2 to add", "api: 2 to add"]
    body = [line.split()[1] for line in lines if line.startswith("  ")]
    assert body == ["net.vpc", "net.route", "net.old", "vpn.eip", "vpn.instance",
                    "api.secret", "api.app"]
    assert lines[-1] == "Plan: 6 to add, 0 to change, 1 to destroy."


def test_json_output_keeps_its_shape():
    plan = plan_of(update("elk.domain", FieldChange("access_policy", policy([]), policy(["a"]))))
    shown = plan.to_dict()
    assert set(shown) == {"env", "destroy", "refresh_only", "has_changes", "counts", "changes"}
    assert shown["changes"][0]["fields"][0]["new"] == policy(["a"])


def test_a_failed_step_a_note_and_a_warning_are_one_line_whatever_their_length():
    # A log of a run is read by grep: an AccessDenied naming a long ARN must not wrap.
    from ngp.engine.schedule import Op
    from ngp.errors import ResourceError

    console = Console(record=True, width=80, force_terminal=False)
    reporter = render.LineReporter(console)
    op = Op("apply", Change(address="network.vpc", kind="ec2.vpc", action=Action.CREATE), "ec2")
    why = "UnauthorizedOperation: ... ec2:CreateTags on resource: arn:aws:ec2:" + "x" * 120
    reporter.failed(op, ResourceError(why))
    reporter.note("n" * 150)
    reporter.warn("w" * 150)
    lines = console.export_text().splitlines()
    assert len(lines) == 3 and lines[0].endswith("x" * 120), lines
