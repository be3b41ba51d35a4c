import pytest

from tests.temporal_bridge.helpers import SharedTimeSkippingEnv


@pytest.fixture(scope="session")
def temporal():
    """One time-skipping test server for every workflow test (it takes a second or two to start)."""
    shared = SharedTimeSkippingEnv()
    yield shared
    shared.close()


@pytest.fixture(scope="session")
def temporal_dev_server():
    """The same harness on a real dev server, for scenarios that skip no time."""
    shared = SharedTimeSkippingEnv(real_server=True)
    yield shared
    shared.close()
