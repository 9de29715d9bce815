"""ECR repositories: scan on push, tag mutability and a lifecycle that keeps the last N images."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code
from ngp.resources.base import Context, Field, Importable, Kind, check_owned, kind, tags_dict

GONE = frozenset({"RepositoryNotFoundException"})


def keep_last(count: int) -> dict[str, Any]:
    """A lifecycle policy that expires all but the newest `count` images."""
    return {"rules": [{"rulePriority": 1, "description": f"keep the last {count} images",
                       "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                     "countNumber": count},
                       "action": {"type": "expire"}}]}


@kind
class Repository(Importable, Kind):
    """An ECR repository, encrypted (AES256), tagged at creation; `ngp down` deletes it with
    its images.

    spec: {"name": "ngp-dev/app", "tag_mutability": "MUTABLE", "scan_on_push": true,
           "keep_images": 30}
    outputs: id (the name), arn, uri (for docker push/pull), registry (the host part).
    The lifecycle policy is not in a batched read: it is taken as last applied.
    """

    name = "ecr.repository"
    service = "ecr"
    actions = ("ecr:DescribeRepositories", "ecr:ListTagsForResource", "ecr:CreateRepository",
               "ecr:TagResource", "ecr:PutLifecyclePolicy", "ecr:PutImageTagMutability",
               "ecr:PutImageScanningConfiguration", "ecr:DeleteRepository",
               # Deleting a repository with images (force) deletes them:
               "ecr:BatchDeleteImage")
    fields = (Field("name", replaces=True), Field("tag_mutability"), Field("scan_on_push"),
              Field("keep_images"))
    outputs = ("id", "name", "arn", "uri", "registry")

    def _live(self, item: dict[str, Any]) -> dict[str, Any]:
        uri = item["repositoryUri"]
        return {"id": item["repositoryName"], "name": item["repositoryName"],
                "arn": item["repositoryArn"], "uri": uri, "registry": uri.split("/")[0],
                "tag_mutability": item.get("imageTagMutability", "MUTABLE"),
                "scan_on_push": item.get("imageScanningConfiguration", {}).get("scanOnPush",
                                                                               False),
                "status": "available"}

    def _describe(self, ctx: Context, **params: Any) -> list[dict[str, Any]]:
        pages = ctx.aws.client("ecr").get_paginator("describe_repositories").paginate(**params)
        return [r for page in pages for r in page["repositories"]]

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        return {r["repositoryName"]: self._live(r) for r in self._describe(ctx)
                if r["repositoryName"] in ids}

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        try:
            found = self._describe(ctx, repositoryNames=[id])
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise
        return self._live(found[0]) if found else None

    def _tags(self, ctx: Context, arn: str) -> dict[str, str]:
        return tags_dict(ctx.aws.client("ecr").list_tags_for_resource(resourceArn=arn)["tags"])

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        live = self.read(ctx, id)
        return self._tags(ctx, live["arn"]) if live else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("ecr").tag_resource(resourceArn=ctx.arn("ecr", f"repository/{id}"), tags=[
            {"Key": k, "Value": v} for k, v in tags.items()])

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        live = self.read(ctx, spec["name"])
        if live is None:
            return None
        check_owned(ctx, address, "repository", spec["name"], self._tags(ctx, live["arn"]))
        return live["id"], live

    def _lifecycle(self, ctx: Context, name: str, keep: int) -> None:
        ctx.aws.client("ecr").put_lifecycle_policy(
            repositoryName=name, lifecyclePolicyText=json.dumps(keep_last(keep)))

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        repo = ctx.aws.client("ecr").create_repository(
            repositoryName=spec["name"], imageTagMutability=spec["tag_mutability"],
            imageScanningConfiguration={"scanOnPush": spec["scan_on_push"]},
            encryptionConfiguration={"encryptionType": "AES256"},
            tags=[{"Key": k, "Value": v} for k, v in ctx.tags(address, spec["name"]).items()],
        )["repository"]
        self._lifecycle(ctx, spec["name"], spec["keep_images"])
        return repo["repositoryName"], self.outputs_of(self._live(repo))

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        ecr = ctx.aws.client("ecr")
        if old.get("tag_mutability") != new["tag_mutability"]:
            ecr.put_image_tag_mutability(repositoryName=id,
                                         imageTagMutability=new["tag_mutability"])
        if old.get("scan_on_push") != new["scan_on_push"]:
            ecr.put_image_scanning_configuration(
                repositoryName=id, imageScanningConfiguration={"scanOnPush": new["scan_on_push"]})
        if old.get("keep_images") != new["keep_images"]:
            self._lifecycle(ctx, id, new["keep_images"])
        return self.outputs_of(self.read(ctx, id) or {"id": id})

    def delete(self, ctx: Context, id: str) -> None:
        try:
            ctx.aws.client("ecr").delete_repository(repositoryName=id, force=True)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
