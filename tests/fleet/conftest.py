import pytest

from tests.fleet.harness import Fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Two service processes on a database and a Redis of their own (one fleet per test module)."""
    fleet = Fleet(tmp_path_factory.mktemp("fleet"))
    yield fleet
    fleet.stop()
