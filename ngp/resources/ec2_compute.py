"""EC2 compute kinds: image lookups, key pairs, instances, Elastic IP associations.

Over 400 lines as one thing: the machine and what it is launched with (its image, key,
user data and address), which share the launch checks and the instance waiters."""

from __future__ import annotations

import base64
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code, error_message, eventually, wait_until
from ngp.errors import NgpError, ResourceError
from ngp.resources.base import (
    NAMED,
    TAG_ENV,
    Context,
    Field,
    Kind,
    ReadOnlyKind,
    check_owned,
    found_by,
    kind,
    never_updated,
)
from ngp.resources.ec2 import Ec2Kind, tag_spec, tags_of

INSTANCE_TIMEOUT = 600.0  # running, stopped or terminated: minutes at most


def profile_not_yet(exc: BaseException) -> bool:
    """EC2 and Auto Scaling do not see a new instance profile (or one whose role just
    changed) for a few seconds: RunInstances and AssociateIamInstanceProfile answer
    InvalidParameterValue "Value (...) for parameter iamInstanceProfile.name is invalid.
    Invalid IAM Instance Profile name" (or .arn ... ARN), CreateAutoScalingGroup
    ValidationError "You must use a valid fully-formed launch template. Value (...) ...".
    IAM user guide, "Changes that I make are not always immediately visible"; the messages
    terraform-provider-aws retries on (ec2 instance, autoscaling group)."""
    code, message = error_code(exc), error_message(exc)
    return (code in ("InvalidParameterValue", "ValidationError")
            and "Invalid IAM Instance Profile" in message) or (
        code == "InvalidParameterValue" and "iamInstanceProfile" in message) or (
        code == "NoSuchEntity" and "nstance profile" in message)


def machine(spec: dict[str, Any], tags: dict[str, str], user_data: str) -> dict[str, Any]:
    """What RunInstances and a launch template share: image, type, groups, key, role, user
    data, IMDSv2 required, an encrypted root volume, and tags on machine and volume."""
    data: dict[str, Any] = {
        "ImageId": spec["image_id"], "InstanceType": spec["instance_type"],
        "SecurityGroupIds": spec["security_group_ids"], "UserData": user_data,
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled",
                            "HttpPutResponseHopLimit": 2},
        "BlockDeviceMappings": [{"DeviceName": spec["root_device_name"], "Ebs": {
            "VolumeSize": spec["root_volume_size"], "VolumeType": spec["root_volume_type"],
            "DeleteOnTermination": True, "Encrypted": True}}],
        "TagSpecifications": [*tag_spec("instance", tags), *tag_spec("volume", tags)],
    }
    if spec.get("key_name"):
        data["KeyName"] = spec["key_name"]
    if spec.get("instance_profile"):
        data["IamInstanceProfile"] = {"Arn": spec["instance_profile"]}
    return data


@kind
class Image(ReadOnlyKind, Ec2Kind):
    """A machine image looked up by owner and name pattern: the newest that matches.
    Looked up once, then kept until the filter changes, so a new release never replaces
    running machines by surprise.

    spec: {"owners": ["099720109477"], "name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-*",
           "architecture": "x86_64"}
    """

    name = "ec2.image"
    fields = (Field("owners"), Field("name"), Field("architecture"))
    actions = ("ec2:DescribeImages",)
    describe, items_key, id_key, ids_param = "describe_images", "Images", "ImageId", "ImageIds"
    not_found = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Malformed"})
    lookup_once = True
    outputs = ("id", "name", "root_device_name")

    def live(self, item: dict[str, Any]) -> dict[str, Any] | None:
        if item.get("State", "available") != "available":
            return None
        return {"id": item["ImageId"], "name": item.get("Name"),
                "root_device_name": item.get("RootDeviceName", "/dev/xvda"),
                "created": item.get("CreationDate", ""), "status": "available"}

    def lookup(self, ctx: Context, spec: dict[str, Any]) -> dict[str, Any] | None:
        filters = [{"Name": "name", "Values": [spec["name"]]},
                   {"Name": "state", "Values": ["available"]}]
        if spec.get("architecture"):
            filters.append({"Name": "architecture", "Values": [spec["architecture"]]})
        # Deprecated images too, deliberately: AWS deprecates every public image two years
        # after it is made and hides it from DescribeImages unless IncludeDeprecated is set
        # (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-deprecate.html), and the
        # OS of DC/OS's nodes (CentOS 7 / RHEL 7, end of life 2024-06-30) is only found so.
        # The newest match is still the one taken.
        images = ctx.aws.client("ec2").describe_images(
            Owners=spec["owners"], Filters=filters, IncludeDeprecated=True)["Images"]
        if not images:
            raise NgpError(
                f"no image of owner {', '.join(spec['owners'])} matches name "
                f"{spec['name']!r}" + (f" ({spec['architecture']})" if spec.get("architecture")
                                       else "") + f" in {ctx.aws.region}",
                hint="Check the image owner and name pattern in the env's settings.")
        newest = max(images, key=lambda i: (i.get("CreationDate", ""), i.get("Name", "")))
        return self.live(newest)


@kind
class KeyPair(Ec2Kind):
    """An EC2 key pair imported from a public key (the user's, or one ngp generated and
    whose private half lives only in Secrets Manager).

    spec: {"name": "ngp-dev", "public_key": "ssh-ed25519 AAAA... ngp"}
    """

    name = "ec2.key_pair"
    created_whole = True
    actions = ("ec2:DescribeKeyPairs", "ec2:ImportKeyPair", "ec2:CreateTags", "ec2:DeleteKeyPair")
    describe, items_key, id_key, ids_param = "describe_key_pairs", "KeyPairs", "KeyName", \
        "KeyNames"
    not_found = frozenset({"InvalidKeyPair.NotFound"})
    resource_type = "key-pair"
    tag_key = "KeyPairId"  # CreateTags takes the key pair's id, not its name (the kind's id)
    fields = (Field("name", replaces=True), Field("public_key", replaces=True))
    outputs = ("id", "name", "fingerprint")
    echoes = NAMED

    def _describe(self, ctx: Context, **params: Any) -> list[dict[str, Any]]:
        return super()._describe(ctx, IncludePublicKey=True, **params)

    def live(self, item: dict[str, Any]) -> dict[str, Any]:
        live = {"id": item["KeyName"], "name": item["KeyName"],
                "fingerprint": item.get("KeyFingerprint"), "status": "available"}
        if item.get("PublicKey"):
            live["public_key"] = item["PublicKey"].strip()
        return live

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        # More than order: AWS keeps a public key without its trailing newline.
        if isinstance(spec.get("public_key"), str):
            return {**spec, "public_key": spec["public_key"].strip()}
        return spec

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        # A key pair's name is unique in the region: found by it, and only this env's.
        items = [i for i in self._describe(ctx, Filters=[
            {"Name": "key-name", "Values": [spec["name"]]}]) if i["KeyName"] == spec["name"]]
        if not items:
            return None
        check_owned(ctx, address, "key pair", spec["name"], items[0].get("Tags", []))
        return spec["name"], self.live(items[0])

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        pair = ctx.aws.client("ec2").import_key_pair(
            KeyName=spec["name"], PublicKeyMaterial=spec["public_key"].encode(),
            TagSpecifications=tag_spec(self.resource_type, ctx.tags(address, spec["name"])))
        return spec["name"], {"id": spec["name"], "name": spec["name"],
                              "fingerprint": pair.get("KeyFingerprint")}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        return self.outputs_of(self.read(ctx, id) or {"id": id, "name": id})

    def delete(self, ctx: Context, id: str) -> None:
        self.delete_call(ctx, ctx.aws.client("ec2").delete_key_pair, KeyName=id)


INSTALL_TAG = "ngp:install"  # a node's boot script sets failed:<reason> when its install fails


def install_failure(tags: dict[str, str]) -> str | None:
    """Why the machine's boot script says its install failed (its tags), if it says so."""
    report = tags.get(INSTALL_TAG, "")
    return report.removeprefix("failed:") if report.startswith("failed:") else None


def with_install(state: str, tags: dict[str, str]) -> str:
    """An instance's state, with the failure its boot script reported, if any."""
    why = install_failure(tags)
    return f"{state}, install failed: {why}" if why else state


@kind
class Instance(Ec2Kind):
    """One EC2 instance: IMDSv2 required, an encrypted root volume, tagged at creation (with
    its volume), and waited for until it runs.

    spec: {"name": "ngp-openvpn-dev", "image_id": Ref("openvpn.image"),
           "root_device_name": Ref("openvpn.image", "root_device_name"),
           "instance_type": "t3.small", "subnet_id": Ref("network.subnet.public[a]"),
           "security_group_ids": [Ref("network.sg.vpn")], "key_name": "ngp-dev",
           "instance_profile": Ref("openvpn.profile", "arn"), "user_data": "#!/bin/bash ...",
           "root_volume_size": 20, "root_volume_type": "gp3"}
    An optional "private_ip" fixes its address in the subnet (a node others find by it).
    User data and the root volume are not in a batched describe: they are taken as last
    applied. A changed instance type stops and starts the instance; a changed image, subnet,
    key, user data or root volume replaces it.
    An instance is wanted running ("state", default "running" in every spec): one found
    stopped (a run killed between a type change's modify and start, or stopped by hand) is
    an update that starts it, where comparing the spec fields alone would say "No changes".
    """

    name = "ec2.instance"
    created_whole = True
    typical_seconds, typical_delete_seconds = 16.5, 30.0
    actions = ("ec2:DescribeInstances", "ec2:RunInstances", "ec2:CreateTags",
               "ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:StartInstances",
               "ec2:TerminateInstances", "ec2:DescribeIamInstanceProfileAssociations",
               "ec2:AssociateIamInstanceProfile", "ec2:ReplaceIamInstanceProfileAssociation",
               "ec2:DisassociateIamInstanceProfile", "iam:PassRole")
    describe, items_key, id_key, ids_param = "describe_instances", "Reservations", \
        "InstanceId", "InstanceIds"
    not_found = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
    resource_type = "instance"
    fields = (Field("name"), Field("image_id", replaces=True),
              Field("root_device_name", replaces=True), Field("instance_type"),
              Field("subnet_id", replaces=True), Field("private_ip", replaces=True),
              Field("security_group_ids", set=True), Field("key_name", replaces=True),
              Field("instance_profile"), Field("user_data", replaces=True),
              Field("root_volume_size", replaces=True), Field("root_volume_type", replaces=True),
              Field("state"))
    update_notes = {"instance_type": "changing the instance type stops and starts it",
                    "state": "a stopped instance is started"}
    outputs = ("id", "private_ip", "public_ip")

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {"state": "running", **super().canonical(spec)}

    def _describe(self, ctx: Context, **params: Any) -> list[dict[str, Any]]:
        reservations = super()._describe(ctx, **params)
        return [i for r in reservations for i in r["Instances"]]

    def live(self, item: dict[str, Any]) -> dict[str, Any] | None:
        state = item["State"]["Name"]
        if state in ("shutting-down", "terminated"):
            return None
        return self.canonical({
            "id": item["InstanceId"], "name": tags_of(item).get("Name"),
            "image_id": item.get("ImageId"), "instance_type": item.get("InstanceType"),
            "subnet_id": item.get("SubnetId"),
            "security_group_ids": [g["GroupId"] for g in item.get("SecurityGroups", [])],
            "key_name": item.get("KeyName"),
            "instance_profile": (item.get("IamInstanceProfile") or {}).get("Arn"),
            "private_ip": item.get("PrivateIpAddress"), "public_ip": item.get("PublicIpAddress"),
            "imdsv2": (item.get("MetadataOptions") or {}).get("HttpTokens"),
            "state": "stopped" if state in ("stopping", "stopped") else "running",
            "status": with_install(state, tags_of(item))})

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ec2 = ctx.aws.client("ec2")
        params = {**machine(spec, ctx.tags(address, spec["name"]), spec["user_data"]),
                  "MinCount": 1, "MaxCount": 1, "SubnetId": spec["subnet_id"]}
        if spec.get("private_ip"):
            params["PrivateIpAddress"] = spec["private_ip"]
        try:
            run = eventually(lambda: ec2.run_instances(**params), also=profile_not_yet)
        except ClientError as exc:
            if error_code(exc) == "OptInRequired":
                raise ResourceError(
                    f"image {spec['image_id']} is a Marketplace image this account has not "
                    "subscribed to", where=address,
                    hint="Subscribe to its product once in the AWS Marketplace console (accept the "
                    "terms), then run the command again.") from None
            raise
        id = run["Instances"][0]["InstanceId"]
        live = self._wait(ctx, id, "running")
        return id, self.outputs_of(live)

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        # An instance an interrupted create left may still be pending (AWS: no public
        # address yet): adopted once it runs, so its outputs are those of a running machine.
        found = super().find(ctx, address, spec)
        if found and found[1].get("status") == "pending":
            return found[0], self._wait(ctx, found[0], "running")
        return found

    def _wait(self, ctx: Context, id: str, state: str) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            items = eventually(lambda: self._describe(ctx, InstanceIds=[id]),
                               codes={"InvalidInstanceID.NotFound"})
            current = items[0]["State"]["Name"] if items else "terminated"
            if current == state:
                return items[0] if items else {}
            if current == "terminated" and state != "terminated":
                raise ResourceError(f"instance {id} terminated while waiting for {state}: "
                                    f"{items[0].get('StateReason', {}).get('Message', '')}")
            return None

        item = wait_until(reached, what=f"instance {id} to be {state}",
                          timeout=INSTANCE_TIMEOUT)
        return (self.live(item) or {"id": id}) if item else {"id": id}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        ec2 = ctx.aws.client("ec2")
        self.update_name(ctx, id, old, new)
        if old.get("security_group_ids") != new["security_group_ids"]:
            ec2.modify_instance_attribute(InstanceId=id, Groups=new["security_group_ids"])
        if old.get("instance_profile") != new.get("instance_profile"):
            self._set_profile(ctx, id, new.get("instance_profile"))
        stopped = old.get("state") == "stopped"
        if old.get("instance_type") != new["instance_type"] or stopped:
            if not stopped:
                ec2.stop_instances(InstanceIds=[id])
            self._wait(ctx, id, "stopped")  # also one still stopping
            if old.get("instance_type") != new["instance_type"]:
                ec2.modify_instance_attribute(InstanceId=id,
                                              InstanceType={"Value": new["instance_type"]})
            ec2.start_instances(InstanceIds=[id])
            return self.outputs_of(self._wait(ctx, id, "running"))
        return self.outputs_of(self.read(ctx, id) or {"id": id})

    def _set_profile(self, ctx: Context, id: str, arn: str | None) -> None:
        ec2 = ctx.aws.client("ec2")
        current = ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [id]}])["IamInstanceProfileAssociations"]
        current = [a for a in current if a["State"] in ("associating", "associated")]
        if current and arn:
            eventually(lambda: ec2.replace_iam_instance_profile_association(
                IamInstanceProfile={"Arn": arn}, AssociationId=current[0]["AssociationId"]),
                also=profile_not_yet)
        elif current:
            ec2.disassociate_iam_instance_profile(AssociationId=current[0]["AssociationId"])
        elif arn:
            eventually(lambda: ec2.associate_iam_instance_profile(
                IamInstanceProfile={"Arn": arn}, InstanceId=id), also=profile_not_yet)

    def delete(self, ctx: Context, id: str) -> None:
        self.delete_call(ctx, ctx.aws.client("ec2").terminate_instances, InstanceIds=[id])
        # Its network interface holds the subnet and security groups until it is gone.
        self._wait(ctx, id, "terminated")


@kind
class EipAssociation(Kind):
    """An Elastic IP's association with an instance. AWS cannot tag it; its natural key is
    the address's allocation id.

    spec: {"allocation_id": Ref("openvpn.eip"), "instance_id": Ref("openvpn.instance")}
    """

    name = "ec2.eip_association"
    not_imported = found_by("the two objects it joins")
    actions = ("ec2:DescribeAddresses", "ec2:AssociateAddress", "ec2:DisassociateAddress")
    service = "ec2"
    fields = (Field("allocation_id", replaces=True), Field("instance_id", replaces=True))
    not_found = frozenset({"InvalidAssociationID.NotFound", "InvalidAllocationID.NotFound"})

    def _associations(self, ctx: Context, **params: Any) -> dict[str, dict[str, Any]]:
        addresses = ctx.aws.client("ec2").describe_addresses(**params)["Addresses"]
        return {a["AssociationId"]: {"id": a["AssociationId"],
                                     "allocation_id": a["AllocationId"],
                                     "instance_id": a.get("InstanceId"), "status": "associated"}
                for a in addresses if a.get("AssociationId")}

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        found = self._associations(ctx, Filters=[{"Name": f"tag:{TAG_ENV}",
                                                  "Values": [ctx.env]}])
        return {id: found[id] for id in ids if id in found}

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        found = self._associations(ctx, Filters=[{"Name": "association-id", "Values": [id]}])
        return found.get(id)

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        try:
            found = self._associations(ctx, AllocationIds=[spec["allocation_id"]])
        except ClientError as exc:
            if error_code(exc) in self.not_found:
                return None
            raise
        for id, live in found.items():
            if live["instance_id"] == spec["instance_id"]:
                return id, live
        return None

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ec2 = ctx.aws.client("ec2")
        assoc = eventually(lambda: ec2.associate_address(
            AllocationId=spec["allocation_id"], InstanceId=spec["instance_id"]),
            codes={"InvalidInstanceID.NotFound", "IncorrectInstanceState",
                   "InvalidAllocationID.NotFound"})
        return assoc["AssociationId"], {"id": assoc["AssociationId"]}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        raise never_updated(self, id)

    def delete(self, ctx: Context, id: str) -> None:
        try:
            ctx.aws.client("ec2").disassociate_address(AssociationId=id)
        except ClientError as exc:
            if error_code(exc) not in self.not_found:
                raise



@kind
class LaunchTemplate(Ec2Kind):
    """A launch template for an auto-scaling group. Every version holds the complete data
    (never SourceVersion, which moto and careless code get wrong); a change makes a new
    version and sets it as the default.

    spec: {"name": "ngp-agents-dev", "image_id": ..., "root_device_name": ...,
           "instance_type": "m5.xlarge", "security_group_ids": [...], "key_name": ...,
           "instance_profile": Ref("dcos.agent_profile", "arn"), "user_data": "#!/bin/bash ...",
           "root_volume_size": 120, "root_volume_type": "gp3"}
    outputs: id, latest_version (what the group uses). The data is taken as last applied.
    """

    name = "ec2.launch_template"
    created_whole = True
    actions = ("ec2:DescribeLaunchTemplates", "ec2:DescribeTags", "ec2:CreateLaunchTemplate",
               "ec2:CreateTags", "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate",
               "ec2:DeleteLaunchTemplate", "iam:PassRole")
    describe, items_key = "describe_launch_templates", "LaunchTemplates"
    id_key, ids_param = "LaunchTemplateId", "LaunchTemplateIds"
    not_found = frozenset({"InvalidLaunchTemplateId.NotFound",
                           "InvalidLaunchTemplateId.Malformed",
                           "InvalidLaunchTemplateName.NotFoundException"})
    resource_type = "launch-template"
    fields = (Field("name", replaces=True), Field("image_id"), Field("root_device_name"),
              Field("instance_type"), Field("security_group_ids", set=True), Field("key_name"),
              Field("instance_profile"), Field("user_data"), Field("root_volume_size"),
              Field("root_volume_type"))
    outputs = ("id", "latest_version")

    def live(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"id": item["LaunchTemplateId"], "name": item["LaunchTemplateName"],
                "latest_version": item["LatestVersionNumber"], "status": "available"}

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        # DescribeTags, not the template's own Tags: moto's describe keeps those from creation.
        if self._item(ctx, id) is None:
            return None
        pages = ctx.aws.client("ec2").get_paginator("describe_tags").paginate(
            Filters=[{"Name": "resource-id", "Values": [id]}])
        return {t["Key"]: t["Value"] for page in pages for t in page["Tags"]}

    def data(self, ctx: Context, spec: dict[str, Any]) -> dict[str, Any]:
        # Machines a group launches are the group's, not resources of the state: they carry
        # the env (so nothing of it goes unseen) but no address of their own.
        tags = {TAG_ENV: ctx.env, "ngp:launch-template": spec["name"], "Name": spec["name"]}
        # A launch template takes user data base64-encoded (RunInstances encodes it itself).
        return machine(spec, tags, base64.b64encode(spec["user_data"].encode()).decode())

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        # A launch template's name is unique in the region: found by it, and only this env's.
        items = [i for i in self._describe(ctx, Filters=[
            {"Name": "launch-template-name", "Values": [spec["name"]]}])
            if i["LaunchTemplateName"] == spec["name"]]
        if not items:
            return None
        check_owned(ctx, address, "launch template", spec["name"], items[0].get("Tags", []))
        return items[0]["LaunchTemplateId"], self.live(items[0])

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ec2 = ctx.aws.client("ec2")
        template = eventually(lambda: ec2.create_launch_template(
            LaunchTemplateName=spec["name"], LaunchTemplateData=self.data(ctx, spec),
            TagSpecifications=tag_spec(self.resource_type, ctx.tags(address, spec["name"]))))
        id = template["LaunchTemplate"]["LaunchTemplateId"]
        return id, {"id": id, "latest_version": template["LaunchTemplate"]["LatestVersionNumber"]}

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        ec2 = ctx.aws.client("ec2")
        version = eventually(lambda: ec2.create_launch_template_version(
            LaunchTemplateId=id, LaunchTemplateData=self.data(ctx, new)))
        number = version["LaunchTemplateVersion"]["VersionNumber"]
        ec2.modify_launch_template(LaunchTemplateId=id, DefaultVersion=str(number))
        return {"id": id, "latest_version": number}

    def delete(self, ctx: Context, id: str) -> None:
        self.delete_call(ctx, ctx.aws.client("ec2").delete_launch_template, LaunchTemplateId=id)
