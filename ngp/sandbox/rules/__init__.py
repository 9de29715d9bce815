"""The strict sandbox's rules, one module per AWS family; each registers its rules with
`@rule` (ngp/sandbox/strict.py). Imported explicitly, so nothing depends on import order."""

from ngp.sandbox.rules import (
    ec2_network,  # noqa: F401
    s3,  # noqa: F401
)
