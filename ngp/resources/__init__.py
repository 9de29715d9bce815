"""Resource kinds. Every family module is imported here, explicitly, so the registry is
complete whatever imports what."""

from ngp.resources import ec2  # noqa: F401
from ngp.resources.base import KINDS, Context, Kind, get_kind, kind

__all__ = ["KINDS", "Context", "Kind", "get_kind", "kind"]
