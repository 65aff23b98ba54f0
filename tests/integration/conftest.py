"""The opt-in real-n8n suite: N8N_URL and N8N_API_KEY name the instance (for example from
shared/tools/real-n8n/start.sh --seed); without them every test here is skipped."""

from __future__ import annotations

import os

import pytest

from services.n8n import N8nClient

URL = os.environ.get("N8N_URL", "")
KEY = os.environ.get("N8N_API_KEY", "")


@pytest.fixture(scope="module")
def client():
    if not (URL and KEY):
        pytest.skip("N8N_URL and N8N_API_KEY name no real n8n")
    # The test instance runs on this machine, hence private addresses.
    with N8nClient(URL, KEY, allow_private=True, backoff_s=0.2) as c:
        yield c
