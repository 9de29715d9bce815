"""IAM's eventual consistency: a role or instance profile IAM has just made is not yet seen
by EC2, Auto Scaling or Lambda, which refuse it for a few seconds as if it did not exist."""

from __future__ import annotations

import time
from typing import Any

from ngp.sandbox.strict import Answer, Call, Refusal, Rule, backend, ends_at, rule

# How long a new role or profile stays unseen. AWS gives no figure ("usually within
# seconds"); terraform-provider-aws retries for up to 2 minutes (propagationTimeout). Two
# seconds is enough for every client to have to retry, and short enough for the tests.
PROPAGATION_SECONDS = 2.0

# What makes or changes a role or a profile, and the parameter that names it.
ROLE_CHANGES = {"CreateRole": "RoleName", "UpdateAssumeRolePolicy": "RoleName"}
PROFILE_CHANGES = {"CreateInstanceProfile": "InstanceProfileName",
                   "AddRoleToInstanceProfile": "InstanceProfileName"}


def last_part(name_or_arn: str) -> str:
    """The name in an ARN (arn:aws:iam::1:instance-profile/path/name), or the name."""
    return name_or_arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def profile_refusal(given: dict[str, Any], prefix: str = "") -> Refusal:
    """EC2's answer for a profile it cannot see yet, in the form of the parameter used."""
    if given.get("Arn"):
        value, param, what = given["Arn"], "iamInstanceProfile.arn", "ARN"
    else:
        value, param, what = given.get("Name"), "iamInstanceProfile.name", "name"
    return Refusal("InvalidParameterValue",
                   f"{prefix}Value ({value}) for parameter {param} is invalid. "
                   f"Invalid IAM Instance Profile {what}")


@rule
class Propagation(Rule):
    name = "iam.propagation"
    summary = (f"a new role or instance profile (or one whose role just changed) is not seen "
               f"by EC2, Auto Scaling or Lambda for a while ({PROPAGATION_SECONDS:g} s here): "
               "InvalidParameterValue 'Invalid IAM Instance Profile name', Auto Scaling's "
               "ValidationError, Lambda's 'The role defined for the function cannot be "
               "assumed by Lambda.'")
    source = ("https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html"
              "#troubleshoot_general_eventual-consistency")

    def reset(self) -> None:
        # (account, kind, name) -> until when it is not yet seen (strict.ends_at: under
        # --model, the modelled CreateRole stands for the wait)
        self.changed: dict[tuple[str, str, str], float] = {}

    def after(self, call: Call, answer: Answer) -> None:
        if call.service != "iam" or answer.status != 200:
            return
        for kind, changes in (("role", ROLE_CHANGES), ("profile", PROFILE_CHANGES)):
            if call.operation in changes and call.param(changes[call.operation]):
                with self.lock:
                    self.changed[(call.account, kind, call.param(changes[call.operation]))] = \
                        ends_at(PROPAGATION_SECONDS)

    def fresh(self, call: Call, kind: str, name_or_arn: str | None) -> bool:
        if not name_or_arn:
            return False
        with self.lock:
            until = self.changed.get((call.account, kind, last_part(name_or_arn)))
        return until is not None and time.monotonic() < until

    def before(self, call: Call) -> None:
        if call.service == "ec2" and call.operation in (
                "RunInstances", "AssociateIamInstanceProfile",
                "ReplaceIamInstanceProfileAssociation"):
            named = {"Arn": call.param("IamInstanceProfile.Arn"),
                     "Name": call.param("IamInstanceProfile.Name")}
            if self.fresh(call, "profile", named["Arn"] or named["Name"]):
                raise profile_refusal(named)
        elif call.service == "autoscaling" and call.operation in (
                "CreateAutoScalingGroup", "UpdateAutoScalingGroup"):
            given = self.template_profile(call)
            if given and self.fresh(call, "profile", given.get("Arn") or given.get("Name")):
                # As terraform-provider-aws quotes it (autoscaling/group.go, create).
                refusal = profile_refusal(
                    given, "You must use a valid fully-formed launch template. ")
                raise Refusal("ValidationError", refusal.message)
        elif call.service == "lambda" and call.operation in (
                "CreateFunction", "UpdateFunctionConfiguration"):
            role = call.params.get("Role") if isinstance(call.params, dict) else None
            if isinstance(role, str) and self.fresh(call, "role", role):
                raise Refusal("InvalidParameterValueException",
                              "The role defined for the function cannot be assumed by Lambda.")

    def template_profile(self, call: Call) -> dict[str, Any] | None:
        """The instance profile of the launch template version a group names, if any."""
        template_id = call.param("LaunchTemplate.LaunchTemplateId")
        template_name = call.param("LaunchTemplate.LaunchTemplateName")
        if not template_id and not template_name:
            return None
        try:
            ec2 = backend("ec2", call)
            if not template_id:
                template_id = ec2.launch_template_name_to_ids.get(template_name)
            template = ec2.launch_templates.get(template_id)
            if template is None:
                return None
            version = template.get_version(call.param("LaunchTemplate.Version") or "$Default")
        except Exception:  # moto will answer for a template or version it lacks
            return None
        profile = version.data.get("IamInstanceProfile")
        return profile if isinstance(profile, dict) else None
