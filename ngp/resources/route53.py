"""Route53: the user's hosted zone (looked up by domain) and the records ngp puts in it.

Records cannot be tagged: a record's natural key, zone + name + type, is its id, and every
write is an UPSERT, so a create that was interrupted is simply made again.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code
from ngp.errors import NgpError, NotOwnedError
from ngp.resources.base import Context, Field, Kind, ReadOnlyKind, found_by, kind

# Classic ELBs' alias hosted zones per region (moto does not return them; AWS documents them
# under "Elastic Load Balancing endpoints and quotas").
CLASSIC_ELB_ZONES = {
    "us-east-1": "Z35SXDOTRQ7X7K", "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0", "us-west-2": "Z1H1FL5HABSF5",
    "ca-central-1": "ZQSVJUPU6J1EY", "eu-central-1": "Z215JYRZR1TBD5",
    "eu-west-1": "Z32O12XQLNTSW2", "eu-west-2": "ZHURV8PSTC4K8",
    "eu-west-3": "Z3Q77PNBQS71R4", "eu-north-1": "Z23TAZ7KFP5FA3",
    "ap-northeast-1": "Z14GRHDCWA56QT", "ap-northeast-2": "ZWKZPGTI48KDX",
    "ap-northeast-3": "Z5LXEXXYW11ES", "ap-southeast-1": "Z1LMS91P8CMLE5",
    "ap-southeast-2": "Z1GM3OXH4ZPM65", "ap-south-1": "ZP97RAFLXTNZK",
    "sa-east-1": "Z2P70J7HTTTPLU",
}


def fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def alias_name(name: str) -> str:
    """An alias target's name as compared: the console names a load balancer
    `dualstack.<its DNS name>`, the same target (terraform-provider-aws's route53 record
    normalizes alias names so too)."""
    return fqdn(name).removeprefix("dualstack.")


@kind
class Zone(ReadOnlyKind):
    """The public hosted zone of a domain, which the user owns (ngp never makes or deletes it).

    spec: {"domain": "example.com"}
    """

    name = "route53.zone"
    fields = (Field("domain"),)
    actions = ("route53:ListHostedZonesByName", "route53:GetHostedZone")
    service = "route53"
    outputs = ("id", "domain")

    def lookup(self, ctx: Context, spec: dict[str, Any]) -> dict[str, Any] | None:
        domain = fqdn(spec["domain"])
        zones = ctx.aws.client("route53").list_hosted_zones_by_name(
            DNSName=domain, MaxItems="10")["HostedZones"]
        public = [z for z in zones if z["Name"] == domain
                  and not z.get("Config", {}).get("PrivateZone")]
        if not public:
            raise NgpError(f"no public hosted zone for {spec['domain']} in this account",
                           hint="Create it in Route53 (and delegate the domain to it), or "
                           "remove `domain` from the env's settings.")
        return {"id": public[0]["Id"].split("/")[-1], "domain": spec["domain"],
                "status": "available"}

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        found = {}
        for id in ids:  # a few zones at most: one call each
            try:
                zone = ctx.aws.client("route53").get_hosted_zone(Id=id)["HostedZone"]
            except ClientError as exc:
                if error_code(exc) == "NoSuchHostedZone":
                    continue
                raise
            found[id] = {"id": id, "domain": zone["Name"].rstrip("."), "status": "available"}
        return found


def _taken(address: str, spec: dict[str, Any]) -> NotOwnedError:
    return NotOwnedError(
        f"DNS record {fqdn(spec['name'])} ({spec['type']}) exists already, and a record "
        "carries no tags to say whose it is: ngp will not overwrite it", where=address,
        hint="Give this env a domain of its own (domain in its file), or delete the record if "
        "nothing uses it.")


@kind
class Record(Kind):
    """A DNS record: plain values, or an alias to a load balancer.

    spec: {"zone_id": Ref("dns.zone"), "name": "vpn.example.com", "type": "A", "ttl": 300,
           "values": [Ref("openvpn.eip", "public_ip")]}
       or {"zone_id": ..., "name": "dcos.example.com", "type": "A",
           "alias": {"dns_name": Ref("dcos.elb.masters", "dns_name"),
                     "zone_id": Ref("dcos.elb.masters", "zone_id")}}
    """

    name = "route53.record"
    not_imported = found_by("its zone, name and type (if it says what the spec says)")
    typical_seconds, typical_delete_seconds = 35.0, 35.0
    actions = ("route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets")
    service = "route53"
    fields = (Field("zone_id", replaces=True), Field("name", replaces=True),
              Field("type", replaces=True), Field("ttl"), Field("values", set=True),
              Field("alias"))

    @staticmethod
    def key(zone_id: str, name: str, type: str) -> str:
        return f"{zone_id}|{fqdn(name)}|{type}"

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        # More than order: names are compared as Route53 keeps them, fully qualified.
        out = super().canonical(spec)
        if isinstance(spec.get("name"), str):
            out["name"] = fqdn(spec["name"])
        if isinstance(spec.get("alias"), dict) and isinstance(spec["alias"].get("dns_name"), str):
            out["alias"] = {**spec["alias"], "dns_name": alias_name(spec["alias"]["dns_name"])}
        return out

    def _live(self, zone_id: str, rrset: dict[str, Any]) -> dict[str, Any]:
        live: dict[str, Any] = {"id": self.key(zone_id, rrset["Name"], rrset["Type"]),
                                "zone_id": zone_id, "name": fqdn(rrset["Name"]),
                                "type": rrset["Type"], "status": "available"}
        if "AliasTarget" in rrset:
            target = rrset["AliasTarget"]
            live["alias"] = {"dns_name": alias_name(target["DNSName"]),
                             "zone_id": target["HostedZoneId"]}
        else:
            live["ttl"] = rrset.get("TTL")
            live["values"] = sorted(r["Value"] for r in rrset.get("ResourceRecords", []))
        return live

    def _zone_records(self, ctx: Context, zone_id: str) -> dict[str, dict[str, Any]]:
        pages = ctx.aws.client("route53").get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=zone_id)
        records = {}
        for page in pages:
            for rrset in page["ResourceRecordSets"]:
                live = self._live(zone_id, rrset)
                records[live["id"]] = live
        return records

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for zone_id in sorted({id.split("|")[0] for id in ids}):  # one listing per zone
            try:
                records = self._zone_records(ctx, zone_id)
            except ClientError as exc:
                if error_code(exc) == "NoSuchHostedZone":
                    continue
                raise
            found.update({id: records[id] for id in ids if id in records})
        return found

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        # A record carries no tags: one of this name is this env's (an interrupted create's)
        # only if it already says what the spec says. One that points elsewhere is another
        # env's on the same domain, or someone's: adopted, the next up would overwrite it.
        id = self.key(spec["zone_id"], spec["name"], spec["type"])
        live = self.read(ctx, id)
        if live is None:
            return None
        want = self.canonical(spec)
        if any(live.get(k) != want.get(k) for k in ("alias", "values")):
            raise _taken(address, spec)
        return id, live

    def _change(self, ctx: Context, action: str, spec: dict[str, Any]) -> None:
        rrset: dict[str, Any] = {"Name": fqdn(spec["name"]), "Type": spec["type"]}
        if spec.get("alias"):
            rrset["AliasTarget"] = {"DNSName": spec["alias"]["dns_name"],
                                    "HostedZoneId": spec["alias"]["zone_id"],
                                    "EvaluateTargetHealth": False}
        else:
            rrset["TTL"] = spec["ttl"]
            rrset["ResourceRecords"] = [{"Value": v} for v in spec["values"]]
        ctx.aws.client("route53").change_resource_record_sets(
            HostedZoneId=spec["zone_id"],
            ChangeBatch={"Comment": "ngp", "Changes": [{"Action": action,
                                                         "ResourceRecordSet": rrset}]})

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        # CREATE, not UPSERT: a record carries no tags, and one of that name may be another
        # env's (two envs on one domain). Route 53 refuses to create it again (InvalidChangeBatch
        # "Tried to create resource record set ... but it already exists", ChangeResourceRecordSets
        # in the Route 53 API reference); an interrupted create is adopted by find instead.
        try:
            self._change(ctx, "CREATE", spec)
        except ClientError as exc:
            if error_code(exc) == "InvalidChangeBatch" and "already exists" in str(exc):
                raise _taken(address, spec) from None
            raise
        id = self.key(spec["zone_id"], spec["name"], spec["type"])
        return id, {"id": id}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        self._change(ctx, "UPSERT", new)
        return {"id": id}

    def delete(self, ctx: Context, id: str) -> None:
        live = self.read(ctx, id)
        if live is None:
            return
        try:
            self._change(ctx, "DELETE", live)
        except ClientError as exc:
            if error_code(exc) not in ("InvalidChangeBatch", "NoSuchHostedZone"):
                raise
