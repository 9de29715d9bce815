"""Route 53's rules moto does not keep."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ngp.sandbox.strict import Call, Refusal, Rule, backend, rule

ZONE_RRSET = re.compile(r"^/2013-04-01/hostedzone/([^/]+)/rrset/?$")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def creates(call: Call) -> tuple[str, list[tuple[str, str, str | None]]] | None:
    """For a ChangeResourceRecordSets request: the zone and the (name, type, set identifier)
    of each CREATE in its batch."""
    match = ZONE_RRSET.match(call.path)
    if call.service != "route53" or call.method != "POST" or not match:
        return None
    try:
        root = ET.fromstring(call.body or b"")
    except ET.ParseError:
        return None
    found = []
    for change in (e for e in root.iter() if _local(e.tag) == "Change"):
        fields = {_local(e.tag): (e.text or "").strip() for e in change.iter()}
        if fields.get("Action") == "CREATE":
            found.append((fields.get("Name", ""), fields.get("Type", ""),
                          fields.get("SetIdentifier")))
    return match.group(1), found


def fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


@rule
class CreateExistingRecordSet(Rule):
    name = "route53.create-existing-record-set"
    summary = ("CREATE of a record set whose name and type (and set identifier) the zone "
               "already has fails: 400 InvalidChangeBatch \"Tried to create resource record "
               "set [...] but it already exists\" (only UPSERT replaces one)")
    source = ("https://docs.aws.amazon.com/Route53/latest/APIReference/"
              "API_ChangeResourceRecordSets.html")

    def before(self, call: Call) -> None:
        wanted = creates(call)
        if not wanted or not wanted[1]:
            return
        zone_id, records = wanted
        try:
            zone = backend("route53", call).get_hosted_zone(zone_id)
        except Exception:  # no such zone: moto answers that itself
            return
        have = {(fqdn(r.name), r.type, r.set_identifier) for r in zone.rrsets}
        for name, type_, set_id in records:
            if (fqdn(name), type_, set_id) in have:
                ident = f", set-identifier='{set_id}'" if set_id else ""
                raise Refusal("InvalidChangeBatch",
                              f"[Tried to create resource record set [name='{fqdn(name)}', "
                              f"type='{type_}'{ident}] but it already exists]")
