"""Secrets Manager's rules moto does not keep: a deleted secret's name stays taken for a while."""

from __future__ import annotations

import json
import time

from ngp.sandbox.strict import Answer, Call, Refusal, Rule, backend, ends_at, rule

# How long a name stays taken after a delete without recovery, which AWS carries out
# asynchronously ("it can take a few seconds"; terraform-provider-aws retries CreateSecret for
# up to 2 minutes, secretsmanager/secret.go). Short here, so the tests stay fast.
REUSE_SECONDS = 2.0

SCHEDULED = ("You can't create this secret because a secret with this name is already "
             "scheduled for deletion.")


def deleted_name(call: Call, answer: Answer) -> str | None:
    """The name of the secret a DeleteSecret deleted (its answer says, for an ARN too)."""
    try:
        name = json.loads(answer.body or b"{}").get("Name")
    except ValueError:
        name = None
    return name or call.params.get("SecretId")


@rule
class NameReuseAfterDelete(Rule):
    name = "secretsmanager.name-reuse-after-delete"
    summary = (f"a secret's name cannot be reused while it is scheduled for deletion, nor for "
               f"a while ({REUSE_SECONDS:g} s here) after ForceDeleteWithoutRecovery: "
               "InvalidRequestException 'You can't create this secret because a secret with "
               "this name is already scheduled for deletion.'")
    source = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html"

    def reset(self) -> None:
        self.deleted: dict[tuple[str, str, str], float] = {}  # (account, region, name) -> until

    def after(self, call: Call, answer: Answer) -> None:
        if call.service != "secretsmanager" or call.operation != "DeleteSecret" \
                or answer.status != 200:
            return
        name = deleted_name(call, answer)
        if name:
            with self.lock:
                self.deleted[(call.account, call.region, name)] = ends_at(REUSE_SECONDS)

    def before(self, call: Call) -> None:
        if call.service != "secretsmanager" or call.operation != "CreateSecret":
            return
        name = call.params.get("Name")
        if not isinstance(name, str):
            return
        with self.lock:
            until = self.deleted.get((call.account, call.region, name))
        if until is not None and time.monotonic() < until:
            raise Refusal("InvalidRequestException", SCHEDULED)
        # Deleted with a recovery window: moto answers ResourceExistsException, AWS this.
        try:
            held = backend("secretsmanager", call).secrets.get(name)
            scheduled = held is not None and held.is_deleted()
        except Exception:  # moto's model moved: let moto answer
            scheduled = False
        if scheduled:
            raise Refusal("InvalidRequestException", SCHEDULED)
