"""API Gateway as AWS serves it where moto falls short: TagResource on a REST API."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from ngp.sandbox.strict import Answer, Call, Rule, backend, rule

REST_API_ARN = re.compile(r"^arn:aws[a-z-]*:apigateway:[a-z0-9-]+::/restapis/([a-z0-9]+)$")


@rule
class TagRestApi(Rule):
    name = "apigateway.tag-rest-api"
    summary = ("TagResource and UntagResource with a REST API's ARN "
               "(arn:aws:apigateway:<region>::/restapis/<id>) tag that API, as GetRestApi then "
               "shows (moto tags only stages)")
    source = "https://docs.aws.amazon.com/apigateway/latest/api/API_TagResource.html"

    def after(self, call: Call, answer: Answer) -> None:
        if call.service != "apigateway" or call.method not in ("PUT", "DELETE") \
                or "/tags/" not in call.path:
            return
        found = REST_API_ARN.match(unquote(call.path.split("/tags/", 1)[1]))
        api = backend("apigateway", call).apis.get(found.group(1)) if found else None
        if api is None:
            return  # a stage's ARN (moto's own), or no such API (moto's NotFound stands)
        if call.method == "PUT":
            api.tags = {**(api.tags or {}), **json.loads(call.body or b"{}").get("tags", {})}
        else:
            keys = set(call.query.get("tagKeys", []))
            api.tags = {k: v for k, v in (api.tags or {}).items() if k not in keys}
        answer.status, answer.body = 204, b""
