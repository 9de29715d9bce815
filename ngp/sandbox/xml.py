"""Small edits to moto's XML answers (EC2 and the query protocols), for the strict rules: the
members of a list, seen as their simple fields, changed or left out."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # moto's own answers, not untrusted input
from collections.abc import Callable

Fields = dict[str, str]


def _namespace(root: ET.Element) -> str:
    return root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""


def _fields(member: ET.Element, ns: str) -> Fields:
    """A member's simple fields (children without children of their own), by local name."""
    return {child.tag[len(ns):]: child.text or "" for child in member if len(child) == 0}


def _serialize(root: ET.Element, ns: str) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True,
                       default_namespace=ns[1:-1] or None)


def filter_members(body: bytes, container: str, keep: Callable[[Fields], bool]) -> bytes:
    """The answer with only the members of each `container` list that `keep` accepts."""
    root = ET.fromstring(body)
    ns, dropped = _namespace(root), False
    for box in root.iter(f"{ns}{container}"):
        for member in list(box):
            if not keep(_fields(member, ns)):
                box.remove(member)
                dropped = True
    return _serialize(root, ns) if dropped else body


def rewrite_members(body: bytes, container: str, change: Callable[[Fields], Fields]) -> bytes:
    """The answer with each member of each `container` list's simple fields replaced by what
    `change` makes of them (members with nested fields keep those)."""
    root = ET.fromstring(body)
    ns, changed = _namespace(root), False
    for box in root.iter(f"{ns}{container}"):
        for member in box:
            fields = _fields(member, ns)
            new = change(fields)
            if new == fields:
                continue
            changed = True
            for child in [c for c in member if len(c) == 0]:
                member.remove(child)
            for key, value in new.items():
                ET.SubElement(member, f"{ns}{key}").text = value
    return _serialize(root, ns) if changed else body
