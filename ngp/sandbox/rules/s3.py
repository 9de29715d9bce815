"""S3's rules moto does not keep: one namespace of bucket names for all accounts, and the
naming rules."""

from __future__ import annotations

from ngp.names import valid_bucket_name
from ngp.sandbox.strict import SYNTAX, Call, Refusal, Rule, rule

# Buckets "of other accounts": the short names anyone would pick first, ngp's old defaults
# among them (<prefix>-<purpose>-<env>). A bucket name with the account's id in it is not
# here, as on AWS nobody else can be expected to hold it.
OTHER_ACCOUNTS_PURPOSES = ("registry", "exhibitor", "snapshots", "state", "elk", "logs",
                           "artifacts", "backups", "jenkins", "data")
OTHER_ACCOUNTS_ENVS = ("", "dev", "stage", "staging", "prod", "production", "sandbox",
                       "test", "qa", "demo", "try", "try2", "other")
HELD_BY_OTHERS = frozenset(
    "-".join(filter(None, ("ngp", purpose, env)))
    for purpose in OTHER_ACCOUNTS_PURPOSES for env in OTHER_ACCOUNTS_ENVS)


def created_bucket(call: Call) -> str | None:
    """The bucket a CreateBucket request names (PUT /<bucket> with no sub-resource)."""
    if call.service != "s3" or call.method != "PUT" or call.query:
        return None
    parts = [p for p in call.path.split("/") if p]
    return parts[0] if len(parts) == 1 else None


@rule
class GlobalBucketNames(Rule):
    name = "s3.global-bucket-names"
    summary = ("bucket names are unique across all accounts: names other accounts hold "
               "(ngp-registry-dev, ngp-exhibitor-dev, ngp-snapshots-dev, ...) answer "
               "409 BucketAlreadyExists")
    source = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"

    def before(self, call: Call) -> None:
        if created_bucket(call) in HELD_BY_OTHERS:
            raise Refusal("BucketAlreadyExists",
                          "The requested bucket name is not available. The bucket namespace "
                          "is shared by all users of the system. Please select a different "
                          "name and try again.", status=409)


@rule
class BucketNameSyntax(Rule):
    name = "s3.bucket-name-syntax"
    summary = ("a bucket name is 3-63 lowercase letters, digits, dots and hyphens, starts and "
               "ends with a letter or digit, is not an IP address and has no reserved prefix "
               "or suffix: else 400 InvalidBucketName")
    source = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
    phase = SYNTAX

    def before(self, call: Call) -> None:
        name = created_bucket(call)
        if name is not None and not valid_bucket_name(name):
            raise Refusal("InvalidBucketName", "The specified bucket is not valid.")
