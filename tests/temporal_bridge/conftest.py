import pytest

from tests.temporal_bridge.helpers import SharedTimeSkippingEnv


@pytest.fixture(scope="session")
def temporal():
    """One time-skipping test server for every workflow test (it takes a second or two to start)."""
    shared = SharedTimeSkippingEnv()
    yield shared
    shared.close()
