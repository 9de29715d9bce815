"""IAM kinds: roles with their trust and inline policies, and instance profiles.

Every role and profile ngp makes lives under the path /ngp/<env>/, so one listing finds an
env's objects and a policy can scope ngp's own rights to them. Every role carries the env's
permissions boundary (ngp/permissions.py), so no role ngp's policy lets its holder make or
change can do more than the boundary allows.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code
from ngp.resources.base import (
    NAMED,
    Context,
    Field,
    Importable,
    Kind,
    check_owned,
    kind,
    tags_dict,
    with_owner_tags,
)

GONE = frozenset({"NoSuchEntity"})
EC2_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def env_path(env: str) -> str:
    return f"/ngp/{env}/"


def _tags(ctx: Context, address: str, name: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in ctx.tags(address, name).items()]


def _doc(value: Any) -> dict[str, Any]:
    """A policy document as a dict, whether AWS gave a dict, JSON or URL-encoded JSON."""
    if isinstance(value, dict):
        return value
    from urllib.parse import unquote

    return json.loads(unquote(value))


@kind
class Role(Importable, Kind):
    """An IAM role under /ngp/<env>/ with a trust policy, inline policies, and managed
    policies attached (another module's, such as the registry's bucket access).

    spec: {"name": "ngp-openvpn-dev", "path": "/ngp/dev/", "description": "...",
           "trust": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                     "Principal": {"Service": "ec2.amazonaws.com"},
                     "Action": "sts:AssumeRole"}]},
           "policies": {"read-secret": {"Version": "2012-10-17", "Statement": [...]}},
           "managed_policies": [Ref("docker_registry.agent_access", "arn")],
           "boundary": Ref("permissions.boundary", "arn")}
    The role's name is its id (AWS names are unique in an account). The boundary is set by
    ngp.permissions.with_boundary on every role of an env, not by the modules.
    """

    name = "iam.role"
    typical_seconds, typical_delete_seconds = 1.5, 1.0
    actions = ("iam:GetAccountAuthorizationDetails", "iam:GetRole", "iam:ListRolePolicies",
               "iam:GetRolePolicy", "iam:CreateRole", "iam:TagRole", "iam:PutRolePolicy",
               "iam:DeleteRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole",
               "iam:ListInstanceProfilesForRole", "iam:RemoveRoleFromInstanceProfile",
               "iam:ListAttachedRolePolicies", "iam:AttachRolePolicy",
               "iam:DetachRolePolicy", "iam:DeleteRole", "iam:PutRolePermissionsBoundary")
    service = "iam"
    fields = (Field("name", replaces=True), Field("path", replaces=True), Field("description"),
              Field("trust"), Field("policies"), Field("managed_policies", set=True),
              Field("boundary"))
    outputs = ("id", "name", "arn")
    echoes = NAMED

    def _live(self, detail: dict[str, Any]) -> dict[str, Any]:
        boundary = (detail.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        return with_owner_tags({
            "id": detail["RoleName"], "name": detail["RoleName"], "path": detail["Path"],
            "boundary": boundary,
            "arn": detail["Arn"], "trust": _doc(detail["AssumeRolePolicyDocument"]),
            "policies": {p["PolicyName"]: _doc(p["PolicyDocument"])
                         for p in detail.get("RolePolicyList", [])},
            "managed_policies": sorted(p["PolicyArn"]
                                       for p in detail.get("AttachedManagedPolicies", [])),
            "status": "available"}, detail.get("Tags", []))

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        wanted = set(ids)
        pages = ctx.aws.client("iam").get_paginator(
            "get_account_authorization_details").paginate(Filter=["Role"])
        return {d["RoleName"]: self._live(d) for page in pages for d in page["RoleDetailList"]
                if d["RoleName"] in wanted}

    def _fetch(self, ctx: Context, id: str) -> dict[str, Any] | None:
        """The role with its tags and inline policies, or None."""
        iam = ctx.aws.client("iam")
        try:
            role = iam.get_role(RoleName=id)["Role"]
            names = iam.list_role_policies(RoleName=id)["PolicyNames"]
            policies = [iam.get_role_policy(RoleName=id, PolicyName=n) for n in names]
            attached = iam.list_attached_role_policies(RoleName=id)["AttachedPolicies"]
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise
        return {**role, "RolePolicyList": policies, "AttachedManagedPolicies": attached}

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        role = self._fetch(ctx, id)
        return self._live(role) if role else None

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        try:
            return tags_dict(ctx.aws.client("iam").get_role(RoleName=id)["Role"].get("Tags"))
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("iam").tag_role(RoleName=id, Tags=[{"Key": k, "Value": v}
                                                          for k, v in tags.items()])

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        role = self._fetch(ctx, spec["name"])
        if role is None:
            return None
        check_owned(ctx, address, "role", spec["name"], role.get("Tags", []))
        return spec["name"], self._live(role)

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        iam = ctx.aws.client("iam")
        # Created with its boundary in the same call: ngp's policy allows CreateRole only so.
        boundary = {"PermissionsBoundary": spec["boundary"]} if spec.get("boundary") else {}
        role = iam.create_role(RoleName=spec["name"], Path=spec["path"],
                               Description=spec.get("description", ""),
                               AssumeRolePolicyDocument=json.dumps(spec["trust"]),
                               Tags=_tags(ctx, address, spec["name"]), **boundary)["Role"]
        for policy, document in sorted(spec.get("policies", {}).items()):
            iam.put_role_policy(RoleName=spec["name"], PolicyName=policy,
                                PolicyDocument=json.dumps(document))
        for arn in spec.get("managed_policies", []):
            iam.attach_role_policy(RoleName=spec["name"], PolicyArn=arn)
        return spec["name"], {"id": spec["name"], "name": spec["name"], "arn": role["Arn"]}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        iam = ctx.aws.client("iam")
        # The boundary first: ngp's policy allows PutRolePolicy and AttachRolePolicy only on
        # roles that already carry it (a role made by an older ngp gets it here). ngp never
        # removes a boundary (its policy denies DeleteRolePermissionsBoundary).
        if new.get("boundary") and old.get("boundary") != new["boundary"]:
            iam.put_role_permissions_boundary(RoleName=id, PermissionsBoundary=new["boundary"])
        if old.get("trust") != new["trust"]:
            iam.update_assume_role_policy(RoleName=id, PolicyDocument=json.dumps(new["trust"]))
        if old.get("description") != new.get("description", ""):
            iam.update_role(RoleName=id, Description=new.get("description", ""))
        before, after = old.get("policies") or {}, new.get("policies", {})
        for policy in sorted(before.keys() - after.keys()):
            iam.delete_role_policy(RoleName=id, PolicyName=policy)
        for policy, document in sorted(after.items()):
            if before.get(policy) != document:
                iam.put_role_policy(RoleName=id, PolicyName=policy,
                                    PolicyDocument=json.dumps(document))
        attached, wanted = set(old.get("managed_policies") or []), set(
            new.get("managed_policies", []))
        for arn in sorted(attached - wanted):
            iam.detach_role_policy(RoleName=id, PolicyArn=arn)
        for arn in sorted(wanted - attached):
            iam.attach_role_policy(RoleName=id, PolicyArn=arn)
        return {"id": id, "name": id, "arn": iam.get_role(RoleName=id)["Role"]["Arn"]}

    def delete(self, ctx: Context, id: str) -> None:
        iam = ctx.aws.client("iam")
        try:
            for policy in iam.list_role_policies(RoleName=id)["PolicyNames"]:
                iam.delete_role_policy(RoleName=id, PolicyName=policy)
            for attached in iam.list_attached_role_policies(RoleName=id)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=id, PolicyArn=attached["PolicyArn"])
            for profile in iam.list_instance_profiles_for_role(RoleName=id)["InstanceProfiles"]:
                iam.remove_role_from_instance_profile(
                    InstanceProfileName=profile["InstanceProfileName"], RoleName=id)
            iam.delete_role(RoleName=id)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise


@kind
class InstanceProfile(Importable, Kind):
    """An instance profile under /ngp/<env>/ holding one role.

    spec: {"name": "ngp-openvpn-dev", "path": "/ngp/dev/", "role": Ref("openvpn.role", "name")}
    """

    name = "iam.instance_profile"
    typical_seconds, typical_delete_seconds = 1.5, 1.0
    actions = ("iam:ListInstanceProfiles", "iam:GetInstanceProfile", "iam:CreateInstanceProfile",
               "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile",
               "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile", "iam:PassRole")
    service = "iam"
    fields = (Field("name", replaces=True), Field("path", replaces=True), Field("role"))
    outputs = ("id", "name", "arn")
    echoes = NAMED

    def _live(self, profile: dict[str, Any]) -> dict[str, Any]:
        roles = [r["RoleName"] for r in profile.get("Roles", [])]
        return {"id": profile["InstanceProfileName"], "name": profile["InstanceProfileName"],
                "path": profile["Path"], "arn": profile["Arn"],
                "role": roles[0] if roles else None, "status": "available"}

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        wanted = set(ids)
        pages = ctx.aws.client("iam").get_paginator("list_instance_profiles").paginate(
            PathPrefix=env_path(ctx.env))
        found = {p["InstanceProfileName"]: self._live(p) for page in pages
                 for p in page["InstanceProfiles"] if p["InstanceProfileName"] in wanted}
        for id in sorted(wanted - found.keys()):  # made under another path, by an older ngp
            if (live := self.read(ctx, id)) is not None:
                found[id] = live
        return found

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        profile = self._fetch(ctx, id)
        return self._live(profile) if profile else None

    def _fetch(self, ctx: Context, id: str) -> dict[str, Any] | None:
        try:
            return ctx.aws.client("iam").get_instance_profile(
                InstanceProfileName=id)["InstanceProfile"]
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        profile = self._fetch(ctx, id)
        return tags_dict(profile.get("Tags")) if profile else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("iam").tag_instance_profile(InstanceProfileName=id, Tags=[
            {"Key": k, "Value": v} for k, v in tags.items()])

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        profile = self._fetch(ctx, spec["name"])
        if profile is None:
            return None
        check_owned(ctx, address, "instance profile", spec["name"], profile.get("Tags", []))
        return spec["name"], self._live(profile)

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        iam = ctx.aws.client("iam")
        profile = iam.create_instance_profile(
            InstanceProfileName=spec["name"], Path=spec["path"],
            Tags=_tags(ctx, address, spec["name"]))["InstanceProfile"]
        if spec.get("role"):
            iam.add_role_to_instance_profile(InstanceProfileName=spec["name"],
                                             RoleName=spec["role"])
        return spec["name"], {"id": spec["name"], "name": spec["name"], "arn": profile["Arn"]}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        iam = ctx.aws.client("iam")
        if old.get("role") != new.get("role"):
            if old.get("role"):
                iam.remove_role_from_instance_profile(InstanceProfileName=id,
                                                      RoleName=old["role"])
            if new.get("role"):
                iam.add_role_to_instance_profile(InstanceProfileName=id, RoleName=new["role"])
        arn = iam.get_instance_profile(InstanceProfileName=id)["InstanceProfile"]["Arn"]
        return {"id": id, "name": id, "arn": arn}

    def delete(self, ctx: Context, id: str) -> None:
        iam = ctx.aws.client("iam")
        try:
            profile = iam.get_instance_profile(InstanceProfileName=id)["InstanceProfile"]
            for role in profile.get("Roles", []):
                iam.remove_role_from_instance_profile(InstanceProfileName=id,
                                                      RoleName=role["RoleName"])
            iam.delete_instance_profile(InstanceProfileName=id)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise


@kind
class Policy(Importable, Kind):
    """A customer-managed policy under /ngp/<env>/, for roles another module makes (the
    registry's bucket access, attached to the DC/OS agents' role). A change makes a new
    default version; old versions are pruned to stay under AWS's five.

    spec: {"name": "ngp-registry-access-dev", "path": "/ngp/dev/", "description": "...",
           "document": {"Version": "2012-10-17", "Statement": [...]}}
    """

    name = "iam.policy"
    typical_seconds, typical_delete_seconds = 1.5, 1.0
    service = "iam"
    actions = ("iam:GetAccountAuthorizationDetails", "iam:GetPolicy", "iam:GetPolicyVersion",
               "iam:CreatePolicy", "iam:TagPolicy", "iam:CreatePolicyVersion",
               "iam:ListPolicyVersions", "iam:DeletePolicyVersion",
               "iam:ListEntitiesForPolicy", "iam:DetachRolePolicy", "iam:DeletePolicy")
    fields = (Field("name", replaces=True), Field("path", replaces=True),
              Field("description", replaces=True), Field("document"))
    outputs = ("id", "arn", "name")
    echoes = {"name": "name"}  # its id is its ARN
    # CreatePolicy sets every field: an adopted policy is not replaced for a description the
    # read does not show (a replacement detaches it from every role).
    created_whole = True

    def _live(self, detail: dict[str, Any]) -> dict[str, Any]:
        default: dict[str, Any] = next((v for v in detail.get("PolicyVersionList", [])
                        if v.get("IsDefaultVersion")), {})
        # moto leaves PolicyName out of GetAccountAuthorizationDetails: the ARN ends with it.
        name = detail.get("PolicyName") or detail["Arn"].rsplit("/", 1)[-1]
        # Its description, where the answer has it (GetPolicy's does; AWS leaves an empty one
        # out): a field that forces a replacement, so an imported policy's is compared.
        said = {"description": detail["Description"]} if "Description" in detail else {}
        return {"id": detail["Arn"], "arn": detail["Arn"], "name": name, **said,
                "path": detail["Path"], "document": _doc(default.get("Document", "{}")),
                "status": f"attached {detail.get('AttachmentCount', 0)}x"}

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        pages = ctx.aws.client("iam").get_paginator(
            "get_account_authorization_details").paginate(Filter=["LocalManagedPolicy"])
        return {d["Arn"]: self._live(d) for page in pages for d in page["Policies"]
                if d["Arn"] in ids}

    def _fetch(self, ctx: Context, arn: str) -> dict[str, Any] | None:
        """The policy with its tags and default version, or None."""
        iam = ctx.aws.client("iam")
        try:
            policy = iam.get_policy(PolicyArn=arn)["Policy"]
            version = iam.get_policy_version(PolicyArn=arn,
                                             VersionId=policy["DefaultVersionId"])
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise
        return {**policy, "PolicyVersionList": [
            {**version["PolicyVersion"], "IsDefaultVersion": True}]}

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        policy = self._fetch(ctx, id)
        return self._live(policy) if policy else None

    def _arn(self, ctx: Context, spec: dict[str, Any]) -> str:
        account = ctx.aws.account_id()
        return f"arn:aws:iam::{account}:policy{spec['path']}{spec['name']}"

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        policy = self._fetch(ctx, id)
        return tags_dict(policy.get("Tags")) if policy else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("iam").tag_policy(PolicyArn=id, Tags=[
            {"Key": k, "Value": v} for k, v in tags.items()])

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        arn = self._arn(ctx, spec)
        policy = self._fetch(ctx, arn)
        if policy is None:
            return None
        check_owned(ctx, address, "policy", spec["name"], policy.get("Tags", []))
        return arn, self._live(policy)

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        policy = ctx.aws.client("iam").create_policy(
            PolicyName=spec["name"], Path=spec["path"],
            Description=spec.get("description", ""),
            PolicyDocument=json.dumps(spec["document"]),
            Tags=_tags(ctx, address, spec["name"]))["Policy"]
        return policy["Arn"], {"id": policy["Arn"], "arn": policy["Arn"], "name": spec["name"]}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        iam = ctx.aws.client("iam")
        if old.get("document") != new["document"]:
            versions = iam.list_policy_versions(PolicyArn=id)["Versions"]
            spare = sorted((v for v in versions if not v["IsDefaultVersion"]),
                           key=lambda v: v["CreateDate"])
            if len(versions) >= 5:  # AWS keeps at most five
                iam.delete_policy_version(PolicyArn=id, VersionId=spare[0]["VersionId"])
            iam.create_policy_version(PolicyArn=id, SetAsDefault=True,
                                      PolicyDocument=json.dumps(new["document"]))
        return {"id": id, "arn": id, "name": new["name"]}

    def delete(self, ctx: Context, id: str) -> None:
        iam = ctx.aws.client("iam")
        try:
            for role in iam.list_entities_for_policy(PolicyArn=id)["PolicyRoles"]:
                iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=id)
            for version in iam.list_policy_versions(PolicyArn=id)["Versions"]:
                if not version["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=id, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=id)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
