import pytest

from tests.integration.stack import dev_server, live_stack


@pytest.fixture(scope="session")
def temporal_address():
    """One real Temporal dev server for the whole integration run."""
    with dev_server() as address:
        yield address


@pytest.fixture
def stack(temporal_address, settings):
    """A running order worker on a fresh task queue, with Django pointed at it."""
    with live_stack(temporal_address, settings) as worker:
        yield worker
