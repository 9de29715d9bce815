"""Resource kinds. Every family module is imported here, explicitly, so the registry is
complete whatever imports what."""

from ngp.marathon import app as marathon_app  # noqa: F401  (the marathon.app kind)
from ngp.marathon import ready as marathon_ready  # noqa: F401  (the marathon.ready kind)
from ngp.resources import (  # noqa: F401
    apigateway,
    autoscaling,
    awslambda,
    ec2,
    ec2_compute,
    ec2_routes,
    ec2_security,
    ecr,
    elb,
    events,
    iam,
    logs,
    opensearch,
    route53,
    s3,
    secretsmanager,
)
from ngp.resources.base import KINDS, Context, Kind, get_kind, kind

__all__ = ["KINDS", "Context", "Kind", "get_kind", "kind"]
