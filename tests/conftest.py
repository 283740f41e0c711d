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


@pytest.fixture(scope="session")
def postgres_url():
    """The URL of a PostgreSQL server started for this test session, on a free local port
    (see tests/pg_server.py); skips where none can start, fails under CI."""
    import os

    from pg_server import start_server

    try:
        server = start_server()
    except (RuntimeError, OSError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL server could start: {exc}")
    yield server.url
    server.stop()
