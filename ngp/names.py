"""AWS's naming rules that ngp's settings check before any call (and the strict sandbox
enforces as AWS does): one place, so the two cannot disagree."""

from __future__ import annotations

import re

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
BUCKET_NAME_MAX = 63


def valid_bucket_name(name: str) -> bool:
    """3-63 lowercase letters, digits, dots and hyphens, a letter or digit at each end, no
    "..", not an IP address, no reserved prefix or suffix."""
    return bool(BUCKET_NAME.match(name)) and ".." not in name and not IP_LIKE.match(name) \
        and not name.startswith(RESERVED_PREFIXES) and not name.endswith(RESERVED_SUFFIXES)
