"""Steering and inspecting kiro-mock from the SDK tests (its control API, see `kiro-mock --help`)."""
import json
import os
import urllib.request


def call(method, path, body=None):
    """One request to the mock's control API; the decoded JSON answer (or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        os.environ["KIRO_MOCK_URL"] + path, data=data, method=method,
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def chat_log():
    """The chat requests the mock received, oldest first, with its verdict on each."""
    log = call("GET", "/__mock/requests")
    entries = log if isinstance(log, list) else (log or {}).get("requests", [])
    return [r for r in entries if r.get("path") == "/generateAssistantResponse"]


def reset():
    """Forgets queued faults and the request log."""
    call("DELETE", "/__mock/faults")
    call("DELETE", "/__mock/requests")
