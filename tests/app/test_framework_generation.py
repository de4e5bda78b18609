"""Which Agent Framework the app runs on, read from the installed release's version."""

from __future__ import annotations

import pytest

from lab11_persistence.frameworks import LAB, V1, generation_of

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("version", ["1.0.0", "1.0.1", "1.8.0", "1.16.0", "1.23.0", "2.0.0"])
def test_every_release_from_1_0_0_on_runs_the_1x_wiring(version: str) -> None:
    assert generation_of(version) == V1


def test_the_labs_release_runs_the_labs_wiring() -> None:
    assert generation_of("1.0.0b260130") == LAB


@pytest.mark.parametrize("version", ["1.0.0b251114", "1.0.0b260212", "1.0.0rc1", "1.0.0a1"])
def test_the_other_1_0_0_pre_releases_have_neither_api(version: str) -> None:
    assert generation_of(version) is None
