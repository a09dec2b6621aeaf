"""Shared fixtures for the SDK tests: where the gateway and the mock run (set by the Rust
test that starts them), and helpers to steer and inspect the mock."""
import os

import pytest

import mockctl


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set: run these tests through `cargo test`")
    return value


@pytest.fixture(scope="session")
def gateway_url():
    return _env("KIRO_EDGE_URL")


@pytest.fixture(scope="session")
def api_key():
    return _env("KIRO_EDGE_KEY")


class Mock:
    """The mock's control API as a fixture (see mockctl.py)."""

    def faults(self, faults):
        mockctl.call("POST", "/__mock/faults", faults)

    def clear(self):
        mockctl.reset()

    def chat_requests(self):
        return mockctl.chat_log()


@pytest.fixture()
def mock():
    _env("KIRO_MOCK_URL")
    m = Mock()
    m.clear()
    return m
