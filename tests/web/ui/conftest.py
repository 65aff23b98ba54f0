"""Signing a test client in to the dashboard the way a browser does (form + CSRF token)."""

from __future__ import annotations

import re

import pytest

from tests.web.ui.promotion_world import dev, pipe, seeds, staging  # noqa: F401 - fixtures

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: bytes) -> str:
    return CSRF_FIELD.search(page.decode()).group(1)


class Browser:
    """A test client with a dashboard session; ``post`` sends the page's CSRF token."""

    def __init__(self, client) -> None:
        self.client = client
        self.token = ""

    def sign_in(self, credential: str):
        self.token = csrf_token(self.client.get("/ui/sign-in").data)
        response = self.client.post(
            "/ui/sign-in", data={"credential": credential, "csrf_token": self.token}
        )
        # A new session holds a new CSRF token.
        self.token = csrf_token(self.client.get("/ui/sign-in").data)
        return response

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: dict | None = None, **kwargs):
        return self.client.post(url, data={**(data or {}), "csrf_token": self.token}, **kwargs)


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def signed_in(app, tenant):
    """A browser per role of ``tenant``, signed in with that role's token."""

    def make(role: str) -> Browser:
        browser = Browser(app.test_client())
        browser.sign_in(tenant.tokens[role])
        return browser

    return make
