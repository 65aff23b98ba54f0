"""Repository URLs, and the username each provider expects with a token."""

from __future__ import annotations

import pytest

from services.errors import InvalidInput
from services.git.transport import Credentials, infer_provider, parse_remote_url


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "user", "path"),
    [
        ("https://github.com/acme/flows.git", "https", "github.com", 443, None, "/acme/flows.git"),
        ("https://git.acme.io:8443/x/y", "https", "git.acme.io", 8443, None, "/x/y"),
        ("ssh://git@gitlab.com/acme/flows.git", "ssh", "gitlab.com", 22, "git", "/acme/flows.git"),
        ("ssh://git@[::1]:2222/r.git", "ssh", "[::1]", 2222, "git", "/r.git"),
        ("git@github.com:acme/flows.git", "ssh", "github.com", 22, "git", "acme/flows.git"),
        ("  bitbucket.org:ws/repo.git ", "ssh", "bitbucket.org", 22, None, "ws/repo.git"),
    ],
)
def test_accepted_urls(url, scheme, host, port, user, path):
    parsed = parse_remote_url(url, allow_http=False)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.user, parsed.path) == (
        scheme,
        host,
        port,
        user,
        path,
    )
    assert parsed.url == url.strip()


@pytest.mark.parametrize(
    "url",
    [
        "http://github.com/acme/flows.git",  # plain http only where private networks are allowed
        "file:///etc/passwd",
        "ext::sh -c touch% /tmp/pwned",
        "/srv/git/repo.git",
        "https://user:ghp_token@github.com/acme/flows.git",
        "https://ada@bitbucket.org/ws/repo.git",
        "https://github.com/acme/flows.git?x=1",
        "https://github.com",
        "ssh://-oProxyCommand=evil/x.git",
        "git@github.com:",
        "https://github.com/acme/flows\\.git",
        "https://exa mple.com/x.git",
    ],
)
def test_refused_urls(url):
    with pytest.raises(InvalidInput) as caught:
        parse_remote_url(url, allow_http=False)
    assert caught.value.code == "invalid_git_url"


def test_plain_http_where_private_networks_are_allowed():
    assert parse_remote_url("http://10.0.0.5:3000/x.git", allow_http=True).port == 3000


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("github.com", "github"),
        ("gitlab.com", "gitlab"),
        ("bitbucket.org", "bitbucket"),
        ("codeberg.org", "gitea"),
        ("gitea.acme.io", "gitea"),
        ("git.acme.io", "generic"),
    ],
)
def test_providers_are_inferred_from_well_known_hosts(host, provider):
    assert infer_provider(host) == provider


def test_basic_auth_by_provider_convention():
    def basic(**kw):
        return Credentials(token="t0k", **kw).basic_auth("git.acme.io")

    assert basic(provider="github") == "x-access-token:t0k"
    assert basic(provider="gitlab") == "oauth2:t0k"
    assert basic(provider="bitbucket") == "x-token-auth:t0k"
    assert basic(provider="gitea") == "t0k:x-oauth-basic"
    assert basic(provider="gitea", username="ada") == "ada:t0k"
    assert basic() == "git:t0k"
    assert Credentials().basic_auth("github.com") is None


def test_secrets_stay_out_of_repr():
    text = repr(Credentials(token="t0k-secret", ssh_key="-----BEGIN KEY-----"))
    assert "t0k-secret" not in text and "BEGIN" not in text
