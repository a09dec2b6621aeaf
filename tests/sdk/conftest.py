"""Shared fixtures for the SDK tests: where the gateway and the mock run (set by the Rust
test that starts them), and helpers to steer and inspect the mock."""
import json
import os
import urllib.request

import pytest


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
    def __init__(self, url):
        self.url = url

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def faults(self, faults):
        self._call("POST", "/__mock/faults", faults)

    def clear(self):
        self._call("DELETE", "/__mock/requests")
        self._call("DELETE", "/__mock/faults")

    def chat_requests(self):
        log = self._call("GET", "/__mock/requests")
        if isinstance(log, dict):
            log = log.get("requests", [])
        return [r for r in log if r.get("path") == "/generateAssistantResponse"]


@pytest.fixture()
def mock():
    m = Mock(_env("KIRO_MOCK_URL"))
    m.clear()
    return m
