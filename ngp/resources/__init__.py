"""Resource kinds. Every family module is imported here, explicitly, so the registry is
complete whatever imports what."""

from ngp.resources import ec2, ec2_compute, iam, route53, secretsmanager  # noqa: F401
from ngp.resources.base import KINDS, Context, Kind, get_kind, kind

__all__ = ["KINDS", "Context", "Kind", "get_kind", "kind"]
