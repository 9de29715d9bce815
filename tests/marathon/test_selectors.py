"""Marathon's label selectors (raml/v2/apps.raml), as the client writes them and the local
Marathon reads them."""

from __future__ import annotations

import pytest

from ngp.marathon.rules import label_equals, selects

LABELS = {"NGP_ENV": "dev", "tier": "web", "odd key": "a,b"}


@pytest.mark.parametrize(("selector", "picked"), [
    ("NGP_ENV==dev", True), ("NGP_ENV==prod", False), ("tier", True), ("missing", False),
    ("tier!=db", True), ("missing!=db", False), ("NGP_ENV in (stage, dev)", True),
    ("NGP_ENV notin (dev)", False), ("tier, NGP_ENV==dev", True), ("tier, NGP_ENV==x", False),
    (label_equals("odd key", "a,b"), True),
])
def test_a_selector_picks_the_apps_whose_labels_hold_it(selector, picked):
    assert selects(selector, LABELS) is picked


def test_a_selector_marathon_cannot_parse_is_refused():
    with pytest.raises(ValueError):
        selects("NGP_ENV===dev", LABELS)


def test_the_client_escapes_what_marathon_reads_as_syntax():
    assert label_equals("NGP_ENV", "dev") == "NGP_ENV==dev"
    assert label_equals("odd key", "a,b") == "odd\\ key==a\\,b"
