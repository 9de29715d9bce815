"""OpenSearch domains: slow to create (15 minutes or more on AWS) and to change, so every
create and update waits, bounded, until the domain has its endpoint and stops processing.

A domain lives in the VPC (VPCOptions) or has a public endpoint, chosen at create: AWS cannot
move one to the other, nor to another VPC, so a change of `vpc_id` replaces the domain
(https://docs.aws.amazon.com/opensearch-service/latest/developerguide/vpc.html#vpc-limitations;
terraform-provider-aws: vpc_options added or removed "forces a new resource"). Its subnets and
security groups change in place (a blue/green change)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code, error_message, eventually, wait_until
from ngp.resources.base import Context, Field, Importable, Kind, check_owned, kind, tags_dict

GONE = frozenset({"ResourceNotFoundException"})
LINKED_SERVICE = "opensearchservice.amazonaws.com"
# What AWS answers a VPC domain's create before its service-linked role exists (quoted in
# github.com/aws/copilot-cli/issues/3006), and for a while after IAM made it.
NO_LINKED_ROLE = "must enable a service-linked role"
TIMEOUT = 3600.0  # AWS: 15-30 minutes to create, as long to change the cluster
DESCRIBE_BATCH = 5  # DescribeDomains takes at most five names


def _scalars(value: Any) -> Any:
    """A policy as AWS may give it back: one-element lists as their element."""
    if isinstance(value, dict):
        return {k: _scalars(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_scalars(v) for v in value]
        return items[0] if len(items) == 1 else items
    return value


@kind
class Domain(Importable, Kind):
    """An OpenSearch domain: engine version, instances, EBS, encryption at rest and between
    nodes, HTTPS only, an access policy (built by the module), and, with `vpc_id`, its place
    in the VPC: one subnet per zone it spans (two or three turn zone awareness on) and the
    security groups that gate it. `compatibility_mode` makes it report version 7.10 to the
    clients that check (Filebeat OSS 7.x).

    spec: {"name": "ngp-elk-dev", "engine_version": "OpenSearch_2.11",
           "instance_type": "t3.small.search", "instance_count": 1, "volume_size": 20,
           "access_policy": {"Version": "2012-10-17", "Statement": [...]},
           "compatibility_mode": true, "vpc_id": "vpc-...", "subnet_ids": ["subnet-..."],
           "security_group_ids": ["sg-..."], "timeout": 3600}
    outputs: id (the name), arn, endpoint (host name: the VPC endpoint of a VPC domain),
    dashboards_url.
    """

    name = "opensearch.domain"
    created_whole = True
    typical_seconds, typical_delete_seconds = 1200.0, 900.0
    service = "es"
    actions = ("es:ListDomainNames", "es:DescribeDomains", "es:DescribeDomain",
               "es:ListTags", "es:CreateDomain", "es:AddTags", "es:UpdateDomainConfig",
               "es:UpgradeDomain", "es:DeleteDomain", "iam:CreateServiceLinkedRole")
    # A VPC domain needs the service-linked role AWSServiceRoleForAmazonOpenSearchService.
    # AWS's console makes it; CreateDomain through the API refuses a VPC domain without it,
    # so create makes it first, as terraform-provider-aws's VPC example does
    # (aws_iam_service_linked_role): https://docs.aws.amazon.com/opensearch-service/latest/
    # developerguide/slr-aos.html
    linked_service = LINKED_SERVICE
    # compatibility_mode: after create, only OpenSearch's own _cluster/settings API changes
    # it (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/rename.html),
    # which ngp does not call.
    fields = (Field("name", replaces=True), Field("engine_version"), Field("instance_type"),
              Field("instance_count"), Field("volume_size"), Field("access_policy"),
              Field("compatibility_mode", replaces=True), Field("vpc_id", replaces=True),
              Field("subnet_ids"), Field("security_group_ids", set=True), Field("timeout"))
    outputs = ("id", "name", "arn", "endpoint", "dashboards_url")
    update_notes = {"instance_type": "AWS rebuilds the domain's nodes (a blue/green change; "
                    "minutes to hours)",
                    "instance_count": "AWS rebuilds the domain's nodes (blue/green)",
                    "subnet_ids": "AWS moves the domain's nodes (blue/green)",
                    "security_group_ids": "AWS rebuilds the domain's nodes (blue/green)"}

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        # More than order: AWS answers a policy's one-item lists as scalars. subnet_ids are
        # no set: one per zone, in the zones' order.
        if isinstance(spec.get("access_policy"), dict):
            spec = {**spec, "access_policy": _scalars(spec["access_policy"])}
        return super().canonical(spec)

    def _live(self, item: dict[str, Any]) -> dict[str, Any] | None:
        if item.get("Deleted"):
            return None
        cluster, ebs = item.get("ClusterConfig", {}), item.get("EBSOptions", {})
        vpc = item.get("VPCOptions") or {}
        # A VPC domain has no Endpoint, its address is Endpoints["vpc"] (API_DomainStatus).
        endpoint = item.get("Endpoint") or (item.get("Endpoints") or {}).get("vpc") or ""
        policy = item.get("AccessPolicies")
        advanced = item.get("AdvancedOptions") or {}
        return self.canonical({
                "id": item["DomainName"], "name": item["DomainName"], "arn": item["ARN"],
                "engine_version": item.get("EngineVersion"),
                "instance_type": cluster.get("InstanceType"),
                "instance_count": cluster.get("InstanceCount"),
                "volume_size": ebs.get("VolumeSize"),
                "access_policy": json.loads(policy) if policy else None,
                "compatibility_mode": advanced.get("override_main_response_version") == "true",
                "vpc_id": vpc.get("VPCId"), "subnet_ids": vpc.get("SubnetIds", []),
                "security_group_ids": vpc.get("SecurityGroupIds", []),
                "endpoint": endpoint,
                "dashboards_url": f"https://{endpoint}/_dashboards" if endpoint else "",
                "status": "processing" if item.get("Processing") else (
                    "active" if endpoint else "creating")})

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        client, found = ctx.aws.client("opensearch"), {}
        for i in range(0, len(ids), DESCRIBE_BATCH):
            for item in client.describe_domains(
                    DomainNames=ids[i:i + DESCRIBE_BATCH])["DomainStatusList"]:
                if live := self._live(item):
                    found[live["id"]] = live
        return found

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        try:
            item = ctx.aws.client("opensearch").describe_domain(DomainName=id)["DomainStatus"]
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise
        return self._live(item)

    import_warning = ("ngp does not read a domain's encryption and HTTPS settings, and never "
                      "changes them: ngp makes its own domains encrypted at rest and between "
                      "nodes, HTTPS only, TLS 1.2 at least; check this one's")

    def _tags(self, ctx: Context, arn: str) -> dict[str, str]:
        return tags_dict(ctx.aws.client("opensearch").list_tags(ARN=arn)["TagList"])

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        live = self.read(ctx, id)
        return self._tags(ctx, live["arn"]) if live else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("opensearch").add_tags(ARN=ctx.arn("es", f"domain/{id}"), TagList=[
            {"Key": k, "Value": v} for k, v in tags.items()])

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        live = self.read(ctx, spec["name"])
        if live is None:
            return None
        check_owned(ctx, address, "OpenSearch domain", spec["name"], self._tags(ctx, live["arn"]))
        if live["status"] != "active":
            # An interrupted create left it processing, with no endpoint yet: adopted once
            # it is active, so no empty endpoint is ever recorded.
            live = self._settled(ctx, live["id"], spec.get("timeout", TIMEOUT))
        return live["id"], live

    def _config(self, spec: dict[str, Any]) -> dict[str, Any]:
        cluster: dict[str, Any] = {"InstanceType": spec["instance_type"],
                                   "InstanceCount": spec["instance_count"]}
        config: dict[str, Any] = {
            "ClusterConfig": cluster,
            "EBSOptions": {"EBSEnabled": True, "VolumeType": "gp3",
                           "VolumeSize": spec["volume_size"]},
            "AccessPolicies": json.dumps(spec["access_policy"])}
        if spec.get("vpc_id"):
            # One subnet per zone: two or three mean zone awareness over that many zones,
            # and AWS refuses any other count ("You must specify exactly one subnet.").
            zones = len(spec["subnet_ids"])
            cluster["ZoneAwarenessEnabled"] = zones > 1
            if zones > 1:
                cluster["ZoneAwarenessConfig"] = {"AvailabilityZoneCount": zones}
            config["VPCOptions"] = {"SubnetIds": list(spec["subnet_ids"]),
                                    "SecurityGroupIds": list(spec["security_group_ids"])}
        return config

    def _linked_role(self, ctx: Context) -> None:
        """The service-linked role a VPC domain needs; one an account has is success."""
        try:
            ctx.aws.client("iam").create_service_linked_role(AWSServiceName=LINKED_SERVICE)
        except ClientError as exc:
            # AWS: InvalidInput "Service role name ... has been taken in this account";
            # moto: EntityAlreadyExists.
            taken = error_code(exc) == "EntityAlreadyExists" or (
                error_code(exc) == "InvalidInput" and "has been taken" in error_message(exc))
            if not taken:
                raise

    def _settled(self, ctx: Context, name: str, timeout: float) -> dict[str, Any]:
        """Wait until the domain has its endpoint and no change in progress."""
        def ready() -> dict[str, Any] | None:
            live = self.read(ctx, name)
            return live if live and live["status"] == "active" else None

        return wait_until(ready, what=f"OpenSearch domain {name} to be active",
                          timeout=timeout, first_delay=1.0, max_delay=30.0,
                          hint="A domain takes 15-30 minutes on AWS; run `ngp up` again to "
                          "keep waiting (nothing is made twice).")

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        if spec.get("vpc_id"):
            self._linked_role(ctx)
        advanced = {"override_main_response_version": "true"} \
            if spec.get("compatibility_mode") else {}
        item = eventually(lambda: ctx.aws.client("opensearch").create_domain(
            DomainName=spec["name"], EngineVersion=spec["engine_version"],
            **self._config(spec), AdvancedOptions=advanced,
            EncryptionAtRestOptions={"Enabled": True},
            NodeToNodeEncryptionOptions={"Enabled": True},
            DomainEndpointOptions={"EnforceHTTPS": True,
                                   "TLSSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"},
            TagList=[{"Key": k, "Value": v}
                     for k, v in ctx.tags(address, spec["name"]).items()]),
            codes=(), also=lambda exc: NO_LINKED_ROLE in error_message(exc))["DomainStatus"]
        live = self._settled(ctx, item["DomainName"], spec.get("timeout", TIMEOUT))
        return live["id"], self.outputs_of(live)

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        client = ctx.aws.client("opensearch")
        if old.get("engine_version") != new["engine_version"]:
            client.upgrade_domain(DomainName=id, TargetVersion=new["engine_version"])
            self._settled(ctx, id, new.get("timeout", TIMEOUT))
        client.update_domain_config(DomainName=id, **self._config(new))
        return self.outputs_of(self._settled(ctx, id, new.get("timeout", TIMEOUT)))

    def delete(self, ctx: Context, id: str) -> None:
        try:
            ctx.aws.client("opensearch").delete_domain(DomainName=id)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
            return
        wait_until(lambda: True if self.read(ctx, id) is None else None,
                   what=f"OpenSearch domain {id} to be deleted", timeout=TIMEOUT,
                   first_delay=1.0, max_delay=30.0)
