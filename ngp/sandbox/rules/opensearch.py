"""What AWS checks of a VPC domain and moto does not: one subnet per zone the domain spans, an
even node count over two zones, and the service-linked role that lets OpenSearch Service place
its network interfaces. moto also gives back a domain's VPCOptions as it was sent; AWS adds the
VPC and the zones its subnets are in, which the rule below adds to moto's object."""

from __future__ import annotations

import re
from typing import Any

from ngp.sandbox.strict import Answer, Call, Refusal, Rule, backend, rule

CREATE_PATH = "/2021-01-01/opensearch/domain"
CONFIG_PATH = re.compile(r"^/2021-01-01/opensearch/domain/([^/]+)/config$")
COUNTS = {1: "one", 2: "two", 3: "three"}
# The roles OpenSearch Service uses for a VPC domain: its own, or the legacy Elasticsearch
# one an older account may have instead (slr-aos.html, "Legacy Elasticsearch role").
LINKED_SERVICES = ("opensearchservice.amazonaws.com", "es.amazonaws.com")


def _domain_call(call: Call) -> str | None:
    """The domain a CreateDomain or UpdateDomainConfig names, else None."""
    if call.service != "es" or call.method != "POST" or not isinstance(call.params, dict):
        return None
    if call.path.rstrip("/") == CREATE_PATH:
        return str(call.params.get("DomainName", ""))
    found = CONFIG_PATH.match(call.path)
    return found.group(1) if found else None


@rule
class VpcSubnets(Rule):
    name = "opensearch.vpc-subnets"
    summary = ("a VPC domain has exactly one subnet without zone awareness and exactly "
               "AvailabilityZoneCount (2 unless given) with it, and an even node count over "
               "two zones: else ValidationException (moto takes any); DescribeDomain shows its "
               "VPCOptions' VPCId and AvailabilityZones")
    source = ("https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/"
              "aws-properties-opensearchservice-domain-vpcoptions.html")

    def before(self, call: Call) -> None:
        name = _domain_call(call)
        vpc = call.params.get("VPCOptions") if name is not None else None
        if not vpc or not vpc.get("SubnetIds"):
            return
        cluster = dict(call.params.get("ClusterConfig") or {})
        if call.path.rstrip("/") != CREATE_PATH:  # an update: the rest is the domain's own
            domain = backend("opensearch", call).domains.get(name)
            cluster = {**(domain.cluster_config if domain else {}), **cluster}
        count = len(vpc["SubnetIds"])
        if not cluster.get("ZoneAwarenessEnabled"):
            if count != 1:
                # Quoted from AWS in github.com/aws/aws-cdk/issues/17697.
                raise Refusal("ValidationException", "You must specify exactly one subnet.")
            return
        zones = int((cluster.get("ZoneAwarenessConfig") or {}).get("AvailabilityZoneCount", 2))
        if count != zones:
            # Quoted from AWS in github.com/cloudposse/terraform-aws-components/pull/232.
            raise Refusal("ValidationException", (
                f"You must specify exactly {COUNTS.get(zones, zones)} subnets because you’ve "
                f"set zone count to {COUNTS.get(zones, zones)}."))
        if zones == 2 and int(cluster.get("InstanceCount", 1)) % 2:
            # Quoted from AWS in github.com/cloudposse/terraform-aws-elasticsearch/issues/192.
            raise Refusal("ValidationException", "You must choose an even number of data "
                          "nodes for a two Availability Zone deployment")

    def after(self, call: Call, answer: Answer) -> None:
        name = _domain_call(call)
        if name is None or answer.status != 200 or not call.params.get("VPCOptions"):
            return
        domain = backend("opensearch", call).domains.get(name)
        if domain is None or not domain.vpc_options:
            return
        ec2 = backend("ec2", call)
        subnets = [ec2.get_subnet(id) for id in domain.vpc_options.get("SubnetIds", [])]
        domain.vpc_options = {**domain.vpc_options, "VPCId": subnets[0].vpc_id,
                              "AvailabilityZones": [s.availability_zone for s in subnets]}


@rule
class VpcNeedsLinkedRole(Rule):
    name = "opensearch.vpc-needs-linked-role"
    summary = ("CreateDomain in a VPC before the account has OpenSearch Service's "
               "service-linked role answers ValidationException \"Before you can proceed, you "
               "must enable a service-linked role ...\" (only the console makes the role)")
    source = ("https://docs.aws.amazon.com/opensearch-service/latest/developerguide/"
              "slr-aos.html")

    def before(self, call: Call) -> None:
        if _domain_call(call) is None or call.path.rstrip("/") != CREATE_PATH or \
                not call.params.get("VPCOptions"):
            return
        paths = {f"/aws-service-role/{service}/" for service in LINKED_SERVICES}
        roles: dict[str, Any] = backend("iam", call).roles
        if not any(role.path in paths for role in list(roles.values())):
            # Quoted from AWS in github.com/aws/copilot-cli/issues/3006.
            raise Refusal("ValidationException", "Before you can proceed, you must enable a "
                          "service-linked role to give Amazon OpenSearch Service permissions "
                          "to access your VPC.")
