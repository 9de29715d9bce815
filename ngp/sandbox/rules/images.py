"""EC2 images as AWS lists them: a deprecated image is left out of DescribeImages unless the
caller asks for deprecated images, names the image by its id, or owns it. The sandbox's
catalogue (moto's base images, ngp/sandbox/server.py) carries each image's deprecation time
as AWS has it for the images ngp's sandbox env picks."""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime
from typing import Any

from ngp.sandbox.strict import Answer, Call, Rule, rule
from ngp.sandbox.xml import filter_members

# Deprecation times of the catalogue's images, by name pattern. AWS deprecates every public
# AMI two years after its creation by default
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-deprecate.html), and Red Hat's
# RHEL 7 and CentOS 7 reached their end of maintenance on 2024-06-30: the RHEL 7 and CentOS 7
# images DC/OS runs on are only found as deprecated images.
DEPRECATED_IMAGES = {
    "RHEL-7*": "2024-06-30T00:00:00.000Z",
    "CentOS*7*": "2024-06-30T00:00:00.000Z",
}


def deprecation_time(image_name: str) -> str | None:
    """When the catalogue's image of this name is deprecated, or None."""
    for pattern, when in DEPRECATED_IMAGES.items():
        if fnmatch.fnmatchcase(image_name, pattern):
            return when
    return None


def with_deprecation_times(catalogue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """moto's catalogue entries, each deprecated one with its `deprecation_time`."""
    out = []
    for image in catalogue:
        when = deprecation_time(image.get("name") or "")
        out.append({**image, "deprecation_time": when} if when else image)
    return out


def _deprecated(fields: dict[str, str], now: datetime) -> bool:
    when = fields.get("deprecationTime")
    if not when:
        return False
    return datetime.fromisoformat(when.replace("Z", "+00:00")) <= now


@rule
class DeprecatedImagesHidden(Rule):
    name = "ec2.deprecated-images-hidden"
    summary = ("DescribeImages leaves out deprecated images (DeprecationTime past) unless "
               "IncludeDeprecated is true, the image ids are given, or the caller owns them")
    source = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html"

    def after(self, call: Call, answer: Answer) -> None:
        if call.service != "ec2" or call.operation != "DescribeImages" or answer.status != 200:
            return
        if str(call.param("IncludeDeprecated", "false")).lower() == "true" or \
                call.listed("ImageId"):
            return
        now = datetime.now(UTC)
        answer.body = filter_members(
            answer.body, "imagesSet",
            lambda image: image.get("imageOwnerId") == call.account
            or not _deprecated(image, now))
