"""The strict sandbox's rules, one module per AWS family; each registers its rules with
`@rule` (ngp/sandbox/strict.py). Imported explicitly, so nothing depends on import order."""

from ngp.sandbox.rules import (  # noqa: F401
    apigateway,
    async_states,
    ec2_network,
    ec2_offerings,
    iam,
    iam_auth,
    images,
    opensearch,
    route53,
    s3,
    secretsmanager,
    validation,
)
