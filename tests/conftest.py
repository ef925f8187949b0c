"""Shared fixtures: where the real test data is (through the project's one data resolver).

Module-level constants use ``explorer.data.data_root(kind)`` directly; tests can instead ask
for the ``data_dir`` fixture, which turns a missing data source into one clear failure.
"""
from __future__ import annotations

import os

import pytest

from explorer import data

# Tests never download weights from the internet: torchvision's host is replaced by a loopback
# port nothing listens on (refused at once), unless a mirror is set already. Tests of the
# download point it at their own local server. Browser tests' servers inherit this.
os.environ.setdefault("CNN_EXPLORER_WEIGHTS_URL", "http://127.0.0.1:9")


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
