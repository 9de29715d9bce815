"""The OpenVPN module end to end, with the network, through the CLI against the sandbox."""

from __future__ import annotations

import json
import re

from tests.homes import all_ids, owned_ids, state_ids


def records(home, domain):
    route53 = home.client("route53")
    zone = route53.list_hosted_zones_by_name(DNSName=domain + ".")["HostedZones"][0]["Id"]
    sets = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {r["Name"]: r for r in sets if r["Type"] not in ("NS", "SOA")}


def test_openvpn_up_outputs_secret_and_down(home):
    env = home.env("vpn", full=True, **{'domain = "sandbox.ngp.test"': 'domain = "vpn.ngp.test"'})
    up = home.ngp("up", "--env", env, "--yes", check=True)
    assert "Apply complete" in up.stdout
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0

    tagged = home.tagged(env)  # OpenVPN, the manager, DC/OS's bootstrap node and masters
    # Roles: the four machines' (the bootstrap node's included), the agents' and the
    # snapshot, restore and restore-start functions'; profiles: the machines' and the agents'.
    assert len(tagged["instance"]) == 6 and len(tagged["role"]) == 8
    assert len(tagged["profile"]) == 5
    assert len(tagged["secret"]) == 5  # ssh key, vpn password, registry, tyk, sysdig
    assert state_ids(home.state(env)) == owned_ids(tagged)

    vm = home.state(env)["resources"]["openvpn.instance"]["id"]
    instance = home.ec2().describe_instances(InstanceIds=[vm])["Reservations"][0]["Instances"][0]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    outputs = json.loads(home.ngp("outputs", "--env", env, "--json", check=True).stdout)
    ip = outputs["vpn_public_ip"]
    assert instance["PublicIpAddress"] == ip, "the Elastic IP is the instance's address"
    assert outputs["vpn_url"] == "https://vpn.vpn.ngp.test/"
    assert outputs["vpn_admin_url"] == "https://vpn.vpn.ngp.test:943/admin"
    assert outputs["vpn_admin_user"] == "openvpn"
    assert set(outputs["vpn_admin_password"]) == {"secret"}
    assert records(home, "vpn.ngp.test")["vpn.vpn.ngp.test."]["ResourceRecords"] == [
        {"Value": ip}]

    text = home.ngp("outputs", "--env", env, check=True).stdout
    assert re.search(r"vpn_admin_password +\= \(hidden: ngp outputs --reveal\)", text)
    password = home.ngp("outputs", "--env", env, "vpn_admin_password", "--reveal",
                        check=True).stdout.strip()
    assert len(password) >= 24

    # The password is nowhere but in Secrets Manager.
    role = home.client("iam").get_role_policy(RoleName=f"ngp-openvpn-{env}",
                                              PolicyName="read-admin-password")
    statement = role["PolicyDocument"]["Statement"][0]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Resource"] == outputs["vpn_admin_password"]["secret"]
    user_data = home.ec2().describe_instance_attribute(
        InstanceId=instance["InstanceId"], Attribute="userData")["UserData"]["Value"]
    import base64

    script = base64.b64decode(user_data).decode()
    assert outputs["vpn_admin_password"]["secret"] in script and "vpn.vpn.ngp.test" in script
    seen = [up.stdout, up.stderr, text,
            home.ngp("status", "--env", env, "--json", check=True).stdout,
            home.ngp("plan", "--env", env, "--json").stdout, script]
    for path in (home.root / "state").rglob("*"):
        if path.is_file():
            seen.append(path.read_text(errors="replace"))
    assert not any(password in s for s in seen)

    # The manager's role holds what `ngp permissions` prints for the env, and two denies
    # more: it may not widen its own role, nor swap its own profile's role.
    manager = home.client("iam").get_role_policy(RoleName=f"ngp-manager-{env}",
                                                 PolicyName="ngp")["PolicyDocument"]
    printed = json.loads(home.ngp("permissions", "--env", env, check=True).stdout)
    extra = [s for s in manager["Statement"] if s not in printed["Statement"]]
    assert [s for s in printed["Statement"] if s not in manager["Statement"]] == []
    assert {s["Sid"]: s["Effect"] for s in extra} == {"NotItsOwnRole": "Deny",
                                                      "NotItsOwnProfile": "Deny"}

    down = home.ngp("down", "--env", env, "--yes", "--stats", check=True)
    assert password not in down.stdout + down.stderr
    assert all_ids(home.tagged(env)) == set()
    # What maps public addresses (the NAT gateway, OpenVPN's Elastic IP, instances with
    # public IPs, the public balancers) went first: the gateway's detach was not refused.
    detaches = re.search(r"ec2\.DetachInternetGateway\D*?(\d+)", down.stdout)
    assert detaches and detaches.group(1) == "1", down.stdout
    assert records(home, "vpn.ngp.test") == {}
