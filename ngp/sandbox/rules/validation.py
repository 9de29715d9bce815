"""Values AWS refuses that moto takes as given (moto.md, "NO ERROR" rows): log retention
periods, schedule expressions, Lambda runtimes and statement ids, IAM documents and deletes,
OpenSearch domain names taken, instances a load balancer cannot find."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from ngp.sandbox.strict import SYNTAX, Call, Refusal, Rule, backend, rule

# CloudWatch Logs: PutRetentionPolicy's retentionInDays is an enum, not a range.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653)


@rule
class LogRetentionDays(Rule):
    name = "logs.retention-days"
    summary = ("a log group's retention is one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, "
               "365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 days: else "
               "InvalidParameterException (moto takes any number)")
    source = ("https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/"
              "API_PutRetentionPolicy.html")
    phase = SYNTAX

    def before(self, call: Call) -> None:
        if call.service != "logs" or call.operation != "PutRetentionPolicy":
            return
        days = call.params.get("retentionInDays")
        if days not in RETENTION_DAYS:
            raise Refusal("InvalidParameterException",
                          f"1 validation error detected: Value '{days}' at 'retentionInDays' "
                          "failed to satisfy constraint: Member must satisfy enum value set: "
                          f"[{', '.join(map(str, RETENTION_DAYS))}]")


RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")


def valid_schedule(expression: str) -> bool:
    rate = RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        return value >= 1 and (unit.endswith("s") == (value > 1))
    return bool(CRON.match(expression))


@rule
class ScheduleExpression(Rule):
    name = "events.schedule-expression"
    summary = ("a rule's schedule is rate(value unit) with a singular unit for 1 and a plural "
               "one above (rate(1 hours) is refused), or cron() of six fields: else "
               "ValidationException")
    source = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html"
    phase = SYNTAX

    def before(self, call: Call) -> None:
        if call.service != "events" or call.operation != "PutRule":
            return
        expression = call.params.get("ScheduleExpression")
        if expression is not None and not valid_schedule(expression):
            raise Refusal("ValidationException", "Parameter ScheduleExpression is not valid.")


# Runtimes whose "block function create" date has passed (Lambda's runtime deprecation table).
CREATE_BLOCKED = frozenset({
    "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x",
    "nodejs12.x", "nodejs14.x", "nodejs16.x", "java8", "python2.7", "python3.6", "python3.7",
    "python3.8", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6",
    "go1.x", "ruby2.5", "ruby2.7", "provided"})
FUNCTIONS = re.compile(r"^/2015-03-31/functions/?$")
CONFIGURATION = re.compile(r"^/2015-03-31/functions/[^/]+/configuration/?$")


def known_runtimes() -> frozenset[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("lambda")
    return frozenset(model.shape_for("Runtime").enum)


@rule
class LambdaRuntime(Rule):
    name = "lambda.runtime"
    summary = ("a function's runtime is one Lambda has (moto takes python3.99) and not one "
               "whose create is blocked (python3.8, nodejs16.x, go1.x, ...): else "
               "InvalidParameterValueException")
    source = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html"
    phase = SYNTAX

    def reset(self) -> None:
        self.known = known_runtimes()

    def before(self, call: Call) -> None:
        creating = call.method == "POST" and FUNCTIONS.match(call.path)
        updating = call.method == "PUT" and CONFIGURATION.match(call.path)
        runtime = call.params.get("Runtime")
        if call.service != "lambda" or not (creating or updating) or runtime is None:
            return
        if runtime not in self.known:
            raise Refusal("ValidationException",
                          f"1 validation error detected: Value '{runtime}' at 'runtime' failed "
                          "to satisfy constraint: Member must satisfy enum value set: "
                          f"[{', '.join(sorted(self.known))}]")
        if runtime in CREATE_BLOCKED:
            raise Refusal("InvalidParameterValueException",
                          f"The runtime parameter of {runtime} is no longer supported for "
                          "creating or updating AWS Lambda functions. We recommend you use a "
                          "supported runtime while creating or updating functions.")


POLICY = re.compile(r"^/2015-03-31/functions/([^/]+)/policy/?$")


@rule
class LambdaStatementId(Rule):
    name = "lambda.statement-id-unique"
    summary = ("AddPermission with a statement id the function's policy already has answers "
               "409 ResourceConflictException (moto adds a second statement)")
    source = "https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html"

    def before(self, call: Call) -> None:
        found = POLICY.match(call.path)
        if call.service != "lambda" or call.method != "POST" or not found:
            return
        sid = call.params.get("StatementId")
        try:
            policy = json.loads(backend("lambda", call).get_policy(unquote(found.group(1))))
        except Exception:  # no such function, or no policy yet: moto answers
            return
        statements = json.loads(policy.get("Policy", "{}")).get("Statement", []) \
            if isinstance(policy.get("Policy"), str) else policy.get("Statement", [])
        if any(s.get("Sid") == sid for s in statements):
            raise Refusal("ResourceConflictException",
                          f"The statement id ({sid}) provided already exists. Please provide "
                          "a new statement id, or remove the existing statement.", status=409)


def _document(call: Call, key: str) -> Any:
    try:
        return json.loads(call.param(key) or "")
    except ValueError:
        return None


@rule
class TrustPolicy(Rule):
    name = "iam.trust-policy"
    summary = ("a role's trust policy is valid JSON whose every statement names a Principal, "
               "an sts action and no Resource: else MalformedPolicyDocument (moto takes any)")
    source = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html"
    phase = SYNTAX

    def before(self, call: Call) -> None:
        if call.service != "iam" or call.operation not in ("CreateRole",
                                                            "UpdateAssumeRolePolicy"):
            return
        key = "AssumeRolePolicyDocument" if call.operation == "CreateRole" else "PolicyDocument"
        document = _document(call, key)
        if not isinstance(document, dict):
            raise Refusal("MalformedPolicyDocument", "This policy contains invalid Json")
        statements = document.get("Statement")
        statements = [statements] if isinstance(statements, dict) else statements or []
        for statement in statements:
            if "Resource" in statement:
                raise Refusal("MalformedPolicyDocument", "Has prohibited field Resource")
            if "Principal" not in statement and "NotPrincipal" not in statement:
                raise Refusal("MalformedPolicyDocument", "Missing required field Principal")
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if not actions or not all(a.startswith("sts:") for a in actions):
                raise Refusal("MalformedPolicyDocument",
                              "AssumeRole policy may only specify STS AssumeRole actions.")


@rule
class DeleteAttachedPolicy(Rule):
    name = "iam.delete-attached-policy"
    summary = ("a managed policy still attached to a role, user or group cannot be deleted: "
               "DeleteConflict (moto deletes it)")
    source = "https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeletePolicy.html"

    def before(self, call: Call) -> None:
        if call.service != "iam" or call.operation != "DeletePolicy":
            return
        policy = backend("iam", call).managed_policies.get(call.param("PolicyArn"))
        if policy is not None and policy.attachment_count > 0:
            raise Refusal("DeleteConflict", "Cannot delete a policy attached to entities.",
                          status=409)


DOMAIN = re.compile(r"^/2021-01-01/opensearch/domain/?$")


@rule
class DomainNameTaken(Rule):
    name = "opensearch.domain-name-taken"
    summary = ("CreateDomain with the name of a domain the account has answers "
               "ResourceAlreadyExistsException (moto takes the second create)")
    source = ("https://docs.aws.amazon.com/opensearch-service/latest/APIReference/"
              "API_CreateDomain.html")

    def before(self, call: Call) -> None:
        if call.service != "es" or call.method != "POST" or not DOMAIN.match(call.path):
            return
        name = call.params.get("DomainName")
        if name in backend("opensearch", call).domains:
            raise Refusal("ResourceAlreadyExistsException", f"domain {name} already exists",
                          status=409)


@rule
class BalancerInstances(Rule):
    name = "elb.register-known-instances"
    summary = ("RegisterInstancesWithLoadBalancer with an instance EC2 does not know answers "
               "InvalidInstance (moto registers it)")
    source = ("https://docs.aws.amazon.com/elasticloadbalancing/2012-06-01/APIReference/"
              "API_RegisterInstancesWithLoadBalancer.html")

    def before(self, call: Call) -> None:
        if call.service != "elasticloadbalancing" or \
                call.operation != "RegisterInstancesWithLoadBalancer":
            return
        ec2 = backend("ec2", call)
        for key, values in call.params.items():
            if re.match(r"^Instances\.member\.\d+\.InstanceId$", key):
                instance = values[0]
                try:
                    ec2.get_instance(instance)
                except Exception:
                    raise Refusal("InvalidInstance",
                                  f"The specified endpoint is not valid: {instance}") from None
