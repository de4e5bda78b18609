"""What the docs quote is what the tests run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.acl import ACL_LINE

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]


def test_the_least_privilege_page_quotes_the_tested_acl_line() -> None:
    assert ACL_LINE in (ROOT / "docs" / "least-privilege.md").read_text().splitlines()
