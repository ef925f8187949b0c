"""Shared fixtures: where the real test data is (through the project's one data resolver).

Module-level constants use ``explorer.data.data_root(kind)`` directly; tests can instead ask
for the ``data_dir`` fixture, which turns a missing data source into one clear failure.
"""
from __future__ import annotations

import pytest

from explorer import data


@pytest.fixture(scope="session")
def data_dir():
    """``data_dir(kind) -> Path`` for kind in explorer.data.KINDS ($CNN_EXPLORER_DATA,
    ../shared/data, or the download cache)."""

    def resolve(kind: str):
        try:
            return data.data_root(kind)
        except data.DataNotFound as exc:
            pytest.fail(str(exc), pytrace=False)

    return resolve
