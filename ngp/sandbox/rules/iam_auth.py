"""IAM's authorization of every request an IAM user makes: allowed only if the user's policies
allow it and none denies it (ngp/sandbox/policy_eval.py), in every service the sandbox serves,
S3 included.

moto has its own enforcement (INITIAL_NO_AUTH_ACTION_COUNT), but it checks most requests
against the resource "*" and takes a conditional Allow for a Deny, so it would refuse all of
ngp's scoped policy; this rule judges instead. Requests signed with a key moto did not issue
(the sandbox's own credentials, the tests' "testing") are the account's root and pass, as on
AWS. `ngp sandbox start --iam-policy-of ENV` makes a user holding `ngp permissions --env ENV`
and has ngp sign with its key (ngp/sandbox/control.py).

What is judged: the IAM action of every request (REST requests named from botocore's own
request URIs); for IAM and S3 requests also the resource's ARN, and for IAM the condition keys
ngp's policy relies on (iam:PermissionsBoundary as the role has it or the request sets it,
iam:PolicyARN, iam:AWSServiceName). An EC2 request that is neither a read nor a create is
judged on each resource it names, with that resource's tags (aws:ResourceTag/<key>), and
CreateTags with the tags it sets (aws:RequestTag/<key>): ngp's policy lets it change only
what is tagged for its env. Other services' requests are judged by action: an Allow of the
action on any resource counts (their ARNs and tag conditions are not modelled).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from ngp.aws import iam_action
from ngp.sandbox.policy_eval import ALLOWED, Request, decide
from ngp.sandbox.strict import AUTHORIZATION, Answer, Call, Refusal, Rule, backend, rule

# SigV4 signing names whose botocore service has another name.
BOTOCORE = {"es": "opensearch", "elasticloadbalancing": "elb", "email": "ses"}
REST = {"s3", "lambda", "es", "apigateway", "route53"}


@functools.cache
def _routes(service: str) -> list[tuple[str, re.Pattern[str], dict[str, str | None],
                                        frozenset[str], int, str]]:
    """(method, path pattern, query it needs, headers it needs, specificity, operation) of a
    REST service, from botocore's model (the request URIs the SDKs build requests from, and
    the required members sent in the query or the headers)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        # S3 Express's own operations (ListDirectoryBuckets) share paths with S3's: S3's win.
        express = name in ("ListDirectoryBuckets", "CreateSession")
        http = operation.http
        path, _, query = http["requestUri"].partition("?")
        regex = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(path))
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", regex)
        needs: dict[str, str | None] = {}
        for part in filter(None, query.split("&")):
            key, _, value = part.partition("=")
            needs[key] = value or None
        headers = set()
        shape = operation.input_shape
        for member in (shape.required_members if shape else []):
            where = shape.members[member].serialization
            if where.get("location") == "querystring":
                needs[where["name"]] = None
            elif where.get("location") == "header":
                headers.add(where["name"].lower())
        literal = 2 * (len(re.sub(r"\{[^}]+\}", "", path)) + 10 * (len(needs) + len(headers)))
        literal += 0 if express else 1
        routes.append((http["method"], re.compile(regex.rstrip("/") + "/?$"), needs,
                       frozenset(headers), literal, name))
    return routes


def rest_operation(service: str, method: str, path: str, query: dict[str, list[str]],
                   headers: dict[str, str] | None = None) -> str:
    sent = {k.lower() for k in (headers or {})}
    best = max(((literal, name) for verb, pattern, needs, needed, literal, name
                in _routes(service)
                if verb == method and pattern.match(path) and needed <= sent
                and all(k in query and (v is None or v in query[k]) for k, v in needs.items())),
               default=(0, "Unknown"))
    return best[1]


def action_of(call: Call) -> str:
    service = BOTOCORE.get(call.service, call.service)
    operation = call.operation
    if call.service in REST:
        operation = rest_operation(service, call.method, call.path, call.query, call.headers)
    return iam_action(f"{service}.{operation}")


def _iam_request(call: Call, action: str) -> Request:
    iam = backend("iam", call)
    account = call.account
    param = call.param
    context: dict[str, Any] = {}
    if param("PolicyArn"):
        context["iam:PolicyARN"] = param("PolicyArn")
    if param("AWSServiceName"):
        context["iam:AWSServiceName"] = param("AWSServiceName")
        return Request(action, f"arn:aws:iam::{account}:role/aws-service-role/"
                       f"{param('AWSServiceName')}/x", context)
    if param("InstanceProfileName"):
        profile = iam.instance_profiles.get(param("InstanceProfileName"))
        path = profile.path if profile else param("Path", "/")
        return Request(action, f"arn:aws:iam::{account}:instance-profile{path}"
                       f"{param('InstanceProfileName')}", context)
    if param("RoleName"):
        role = next((r for r in iam.roles.values() if r.name == param("RoleName")), None)
        boundary = param("PermissionsBoundary") if action in (
            "iam:CreateRole", "iam:PutRolePermissionsBoundary") else (
            role.permissions_boundary_arn if role else None)
        if boundary:
            context["iam:PermissionsBoundary"] = boundary
        path = role.path if role else param("Path", "/")
        return Request(action, f"arn:aws:iam::{account}:role{path}{param('RoleName')}", context)
    if param("PolicyArn"):
        return Request(action, param("PolicyArn"), context)
    if action == "iam:CreatePolicy":
        return Request(action, f"arn:aws:iam::{account}:policy{param('Path', '/')}"
                       f"{param('PolicyName')}", context)
    return Request(action, "*", context)


# The EC2 resources a request names, by parameter, and by id prefix (CreateTags' ResourceId.N):
# each is authorized on its own ARN, with its tags as aws:ResourceTag/<key>, as AWS does
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
EC2_PARAMS = {"VpcId": "vpc", "SubnetId": "subnet", "GroupId": "security-group",
              "InstanceId": "instance", "RouteTableId": "route-table",
              "InternetGatewayId": "internet-gateway", "NatGatewayId": "natgateway",
              "AllocationId": "elastic-ip", "LaunchTemplateId": "launch-template"}
EC2_PREFIXES = {"vpc": "vpc", "subnet": "subnet", "sg": "security-group", "i": "instance",
                "rtb": "route-table", "igw": "internet-gateway", "nat": "natgateway",
                "eipalloc": "elastic-ip", "lt": "launch-template", "key": "key-pair"}


def _tagged_at_creation(call: Call, prefix: str) -> list[Request]:
    """Tags given at creation (TagSpecification.N), authorized as ec2:CreateTags on each new
    resource with aws:RequestTag (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/
    supported-iam-actions-tagging.html)."""
    requests = []
    for n in range(1, 11):
        spec = f"TagSpecification.{n}"
        if not call.param(f"{spec}.ResourceType"):
            break
        asked = {call.param(f"{spec}.Tag.{i}.Key"): call.param(f"{spec}.Tag.{i}.Value", "")
                 for i in range(1, 51) if call.param(f"{spec}.Tag.{i}.Key") is not None}
        requests.append(Request("ec2:CreateTags",
                                f"{prefix}:{call.param(f'{spec}.ResourceType')}/*",
                                {f"aws:RequestTag/{k}": v for k, v in asked.items()}))
    return requests


def _ec2_requests(call: Call, action: str) -> list[Request]:
    """A read is judged by action, and a create too (ngp's policy allows them on any
    resource), with the tags it sets at creation as ec2:CreateTags on each new resource
    (aws:RequestTag); CreateTags by the tags it sets and has; anything else on each EC2
    resource it names, by that resource's tags."""
    from ngp.permissions import EC2_CREATES

    name = action.split(":", 1)[1]
    prefix = f"arn:aws:ec2:{call.region}:{call.account}"
    if name.startswith("Describe"):
        return [Request(action, None)]
    created = _tagged_at_creation(call, prefix)
    if name in EC2_CREATES or (name.startswith("Create") and created):
        return [Request(action, None), *created]
    tags = backend("ec2", call).tags

    def on(kind: str, id: str, context: dict[str, Any] | None = None) -> Request:
        return Request(action, f"{prefix}:{kind}/{id}", {
            **(context or {}),
            **{f"aws:ResourceTag/{k}": v for k, v in tags.get(id, {}).items()}})

    if name == "CreateTags":
        asked = {call.param(f"Tag.{i}.Key"): call.param(f"Tag.{i}.Value", "")
                 for i in range(1, 51) if call.param(f"Tag.{i}.Key") is not None}
        context = {f"aws:RequestTag/{k}": v for k, v in asked.items()}
        return [on(EC2_PREFIXES.get(id.split("-")[0], "*"), id, context)
                for id in call.listed("ResourceId")] or [Request(action, None)]
    named = [(kind, id) for param, kind in EC2_PARAMS.items()
             for id in ([call.param(param)] if call.param(param) else call.listed(param))]
    return [on(kind, id) for kind, id in named] or [Request(action, None)]


def requests_of(call: Call) -> list[Request]:
    """What IAM decides on for a call: one request per resource it names."""
    action = action_of(call)
    if call.service == "iam":
        return [_iam_request(call, action)]
    if call.service == "s3":
        parts = [p for p in call.path.split("/") if p]
        arn = "arn:aws:s3:::" + "/".join(parts) if parts else "*"
        return [Request(action, arn)]
    if call.service == "ec2":
        return _ec2_requests(call, action)
    return [Request(action, None)]


def _document(value: Any) -> dict[str, Any]:
    from urllib.parse import unquote

    return value if isinstance(value, dict) else json.loads(unquote(value))


def user_of(call: Call) -> Any:
    """The IAM user whose access key signed the call, or None (the account's root)."""
    try:
        iam = backend("iam", call)
    except Exception:  # an account moto has no IAM for: nobody's key
        return None
    return next((u for u in iam.users.values()
                 if any(k.access_key_id == call.access_key for k in u.access_keys)), None)


def policies_of(user: Any) -> list[dict[str, Any]]:
    inline = [_document(p) for p in user.policies.values()]
    attached = [_document(next(v.document for v in p.versions if v.is_default))
                for p in user.managed_policies.values()]
    return [*inline, *attached]


# Each protocol's code for "not authorized", as AWS answers it.
DENIED_CODES = {"ec2": "UnauthorizedOperation", "iam": "AccessDenied", "sts": "AccessDenied",
                "s3": "AccessDenied", "autoscaling": "AccessDenied",
                "elasticloadbalancing": "AccessDenied", "route53": "AccessDenied"}


@rule
class IdentityPolicies(Rule):
    name = "iam.identity-policies"
    summary = ("a request by an IAM user is allowed only if the user's policies allow its "
               "action on its resource (conditions included) and none denies it: "
               "AccessDenied / UnauthorizedOperation / AccessDeniedException")
    source = ("https://docs.aws.amazon.com/IAM/latest/UserGuide/"
              "reference_policies_evaluation-logic.html")
    phase = AUTHORIZATION

    def before(self, call: Call) -> None:
        if call.service == "sts" and call.operation == "GetCallerIdentity":
            return  # AWS answers it whatever the policies say
        user = user_of(call)
        if user is None:
            return
        policies = policies_of(user)
        request = next((r for r in requests_of(call) if decide(policies, r) != ALLOWED), None)
        if request is None:
            return
        on = f" on resource: {request.resource}" if request.resource else ""
        message = (f"User: {user.arn} is not authorized to perform: {request.action}{on} "
                   f"because no identity-based policy allows the {request.action} action")
        code = DENIED_CODES.get(call.service, "AccessDeniedException")
        raise Refusal(code, message, status=400 if code == "UnauthorizedOperation" else 403)


@rule
class LambdaTagsNeedListTags(Rule):
    name = "lambda.tags-need-list-tags"
    summary = ("GetFunction answers a function's Tags only to a caller allowed lambda:ListTags; "
               "to others it answers TagsError instead")
    source = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-tags.html"
    phase = AUTHORIZATION

    def after(self, call: Call, answer: Answer) -> None:
        if call.service != "lambda" or call.method != "GET" or answer.status != 200 \
                or action_of(call) != "lambda:GetFunction":
            return
        user = user_of(call)
        if user is None or decide(policies_of(user), Request("lambda:ListTags", None)) == ALLOWED:
            return
        found = json.loads(answer.body or b"{}")
        if found.pop("Tags", None) is not None:
            found["TagsError"] = {"ErrorCode": "AccessDeniedException", "Message": (
                f"User: {user.arn} is not authorized to perform: lambda:ListTags")}
            answer.body = json.dumps(found).encode()
