"""API Gateway REST APIs whose routes invoke Lambda functions, and their stages."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ngp.aws import error_code
from ngp.errors import ResourceError
from ngp.resources.base import (
    OWNER_TAGS,
    TAG_ADDRESS,
    TAG_ENV,
    Context,
    Field,
    Importable,
    Kind,
    PerParentKind,
    kind,
    never_updated,
    owner_tags,
    tags_dict,
)

GONE = frozenset({"NotFoundException"})


def invocation_uri(region: str, function_arn: str) -> str:
    return (f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
            f"{function_arn}/invocations")


@kind
class RestApi(Importable, Kind):
    """A regional REST API with routes that proxy to Lambda functions, each protected by an
    authorization type (AWS_IAM: only signed requests from principals allowed to invoke it).
    API names are not unique: an interrupted create is found by its tags. Routes are made
    with the API; a change of routes makes a new API (and a new URL). API Gateway waits for a
    Lambda integration 29 s at most (its quotas' "Maximum integration timeout",
    https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html): a route's
    function must answer within that, and start longer work asynchronously.

    spec: {"name": "ngp-restore-dev", "description": "...",
           "routes": [{"path": "restore", "method": "POST", "authorization": "AWS_IAM",
                       "function_arn": Ref("marathon_snapshot.restore", "arn")}]}
    outputs: id, execution_arn (for invoke permissions).
    """

    name = "apigateway.rest_api"
    typical_seconds, typical_delete_seconds = 2.0, 1.0
    service = "apigateway"
    actions = ("apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH",
               "apigateway:DELETE")
    # Routes are made with the API (a change of routes is a new API); they are siblings, so
    # their order means nothing. Only a read of one API shows them (GetResources).
    fields = (Field("name", replaces=True), Field("description"),
              Field("routes", replaces=True, set=True))
    outputs = ("id", "execution_arn")

    def _live(self, ctx: Context, item: dict[str, Any]) -> dict[str, Any]:
        account = ctx.aws.account_id()
        return {"id": item["id"], "name": item["name"],
                "description": item.get("description", ""),
                "execution_arn": f"arn:aws:execute-api:{ctx.aws.region}:{account}:{item['id']}",
                OWNER_TAGS: owner_tags(item.get("tags") or {}), "status": "available"}

    def _apis(self, ctx: Context) -> list[dict[str, Any]]:
        pages = ctx.aws.client("apigateway").get_paginator("get_rest_apis").paginate()
        return [api for page in pages for api in page["items"]]

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        return {api["id"]: self._read(ctx, api) for api in self._apis(ctx) if api["id"] in ids}

    def _read(self, ctx: Context, api: dict[str, Any]) -> dict[str, Any]:
        """A read's answer for a listed or fetched API: its fields and its routes."""
        return self.canonical({**self._live(ctx, api), "routes": self._routes(ctx, api["id"])})

    def _get(self, ctx: Context, id: str) -> dict[str, Any] | None:
        try:
            return ctx.aws.client("apigateway").get_rest_api(restApiId=id)
        except ClientError as exc:
            if error_code(exc) in GONE:
                return None
            raise

    def _routes(self, ctx: Context, id: str) -> list[dict[str, Any]]:
        """Its routes, as a spec gives them: one GetResources with the methods embedded."""
        pages = ctx.aws.client("apigateway").get_paginator("get_resources").paginate(
            restApiId=id, embed=["methods"])
        try:
            resources = [r for page in pages for r in page["items"]]
        except ClientError as exc:
            if error_code(exc) in GONE:
                return []  # deleted since it was listed: its next read says it is gone
            raise
        routes = []
        for resource in resources:
            for verb, method in (resource.get("resourceMethods") or {}).items():
                uri = (method.get("methodIntegration") or {}).get("uri", "")
                routes.append({"path": resource.get("pathPart", ""), "method": verb,
                               "authorization": method.get("authorizationType"),
                               "function_arn": uri.partition("/functions/")[2].removesuffix(
                                   "/invocations")})
        return routes

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        api = self._get(ctx, id)
        return self._read(ctx, api) if api else None  # read_many's, for one API in two calls

    def tags(self, ctx: Context, id: str) -> dict[str, str] | None:
        api = self._get(ctx, id)
        return tags_dict(api.get("tags")) if api else None

    def tag(self, ctx: Context, id: str, tags: dict[str, str]) -> None:
        ctx.aws.client("apigateway").tag_resource(
            resourceArn=f"arn:aws:apigateway:{ctx.aws.region}::/restapis/{id}", tags=tags)

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        mine = [self._live(ctx, api) for api in self._apis(ctx)
                if (api.get("tags") or {}).get(TAG_ENV) == ctx.env
                and (api.get("tags") or {}).get(TAG_ADDRESS) == address]
        if len(mine) > 1:
            raise ResourceError(f"{len(mine)} REST APIs are tagged with this address",
                                where=address, hint="Delete the extra ones by hand.")
        return (mine[0]["id"], mine[0]) if mine else None

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        client = ctx.aws.client("apigateway")
        api = client.create_rest_api(name=spec["name"], description=spec.get("description", ""),
                                     endpointConfiguration={"types": ["REGIONAL"]},
                                     tags=ctx.tags(address, spec["name"]))
        root = next(r["id"] for r in client.get_resources(restApiId=api["id"])["items"]
                    if r["path"] == "/")
        for route in spec["routes"]:
            resource = client.create_resource(restApiId=api["id"], parentId=root,
                                              pathPart=route["path"])
            client.put_method(restApiId=api["id"], resourceId=resource["id"],
                              httpMethod=route["method"],
                              authorizationType=route["authorization"])
            client.put_integration(restApiId=api["id"], resourceId=resource["id"],
                                   httpMethod=route["method"], type="AWS_PROXY",
                                   integrationHttpMethod="POST",
                                   uri=invocation_uri(ctx.aws.region, route["function_arn"]))
        return api["id"], self.outputs_of(self._live(ctx, api))

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        if old.get("description") != new.get("description", ""):
            ctx.aws.client("apigateway").update_rest_api(restApiId=id, patchOperations=[
                {"op": "replace", "path": "/description", "value": new.get("description", "")}])
        return self.outputs_of(self.read(ctx, id) or {"id": id})

    def delete(self, ctx: Context, id: str) -> None:
        if self.read(ctx, id) is None:
            return  # gone already (moto fails on deleting a missing API, AWS says NotFound)
        try:
            ctx.aws.client("apigateway").delete_rest_api(restApiId=id)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise


@kind
class Stage(PerParentKind):
    """A deployment of a REST API's routes, published as a stage. Its id is api/stage.

    spec: {"rest_api_id": Ref("marathon_snapshot.api"), "name": "v1"}
    outputs: id, url (https://<api>.execute-api.<region>.amazonaws.com/<stage>).
    """

    name = "apigateway.stage"
    typical_seconds, typical_delete_seconds = 1.0, 1.0
    service = "apigateway"
    actions = ("apigateway:GET", "apigateway:POST", "apigateway:DELETE")
    fields = (Field("rest_api_id", replaces=True), Field("name", replaces=True))
    parent_field, child_field, parent_gone = "rest_api_id", "name", GONE
    outputs = ("id", "url")

    def _live(self, ctx: Context, api: str, stage: dict[str, Any]) -> dict[str, Any]:
        name = stage["stageName"]
        return {"id": f"{api}/{name}", "rest_api_id": api, "name": name,
                "url": f"https://{api}.execute-api.{ctx.aws.region}.amazonaws.com/{name}",
                "status": "deployed"}

    def read_children(self, ctx: Context, api: str) -> dict[str, dict[str, Any]]:
        stages = ctx.aws.client("apigateway").get_stages(restApiId=api)["item"]
        return {s["stageName"]: self._live(ctx, api, s) for s in stages}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        ctx.aws.client("apigateway").create_deployment(restApiId=spec["rest_api_id"],
                                                       stageName=spec["name"])
        live = self.children(ctx, spec["rest_api_id"])[spec["name"]]
        return live["id"], self.outputs_of(live)

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        raise never_updated(self, id)

    def delete(self, ctx: Context, id: str) -> None:
        api, stage = self.split_id(id)
        try:
            ctx.aws.client("apigateway").delete_stage(restApiId=api, stageName=stage)
        except ClientError as exc:
            if error_code(exc) not in GONE:
                raise
