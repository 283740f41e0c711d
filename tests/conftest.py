from __future__ import annotations

import pytest

from relcontrast import RelationalDatabase
from relcontrast.testing import make_synthetic_database


@pytest.fixture(scope="session")
def data():
    """The seeded synthetic ``(tables, schema)``; tests copy before changing anything."""
    return make_synthetic_database()


@pytest.fixture(scope="session")
def db(data):
    return RelationalDatabase(*data)
