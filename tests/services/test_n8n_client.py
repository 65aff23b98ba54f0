"""The n8n client against the fake n8n: paging, retries, typed errors, limits, URL safety, and
an API key that never shows up anywhere but its header."""

from __future__ import annotations

import json
import time
import traceback

import pytest

from services import deadline, url_safety
from services.n8n import (
    N8nAddressRefused,
    N8nBadRequest,
    N8nClient,
    N8nConflict,
    N8nError,
    N8nForbidden,
    N8nMethodNotAllowed,
    N8nNotFound,
    N8nNotN8n,
    N8nResponseTooLarge,
    N8nServerError,
    N8nTimeout,
    N8nTLSError,
    N8nUnauthorized,
    N8nUnreachable,
)
from services.n8n import client as client_module
from services.url_safety import UnsafeUrlError
from tests.fake_n8n import FakeN8n, sample_workflow
from tests.fake_n8n.dns import static_resolver
from tests.fake_n8n.samples import REAL_WORKFLOW_1_123

#: A key planted to prove it never leaks into an error, a log line or a URL.
API_KEY = "n8n_api_PLANTED-SECRET-7f3a9c0e5b1d"


@pytest.fixture
def n8n():
    with FakeN8n(api_key=API_KEY) as fake:
        yield fake


def make_client(n8n, **options):
    defaults = {"allow_private": True, "backoff_s": 0, "timeout": (2.0, 5.0)}
    return N8nClient(n8n.url, n8n.api_key, **{**defaults, **options})


@pytest.fixture
def client(n8n):
    with make_client(n8n) as c:
        yield c


# Paging


def test_lists_1200_workflows_in_pages_of_250(n8n, client):
    ids = set(n8n.add_workflows(1200))
    pages = list(client.iter_workflows())
    assert [len(p) for p in pages] == [250, 250, 250, 250, 200]
    assert {w["id"] for page in pages for w in page} == ids
    listing = n8n.requests_to("/workflows")
    assert [r.query["limit"] for r in listing] == ["250"] * 5
    assert "cursor" not in listing[0].query
    assert all(r.query["cursor"] for r in listing[1:])


@pytest.mark.parametrize("page_size", [0, -1, 251])
def test_page_sizes_n8n_would_loop_on_or_refuse_are_rejected_before_sending(n8n, client, page_size):
    with pytest.raises(ValueError, match="page_size"):
        next(client.iter_workflows(page_size=page_size))
    assert n8n.requests == []


def test_filters_go_with_every_page(n8n, client):
    for i in range(5):
        n8n.add_workflow(name=f"Sync {i}", tags=["prod"], active=True)
    pages = list(client.iter_workflows(page_size=2, active=True, tags=["prod", "crm"], name="Sync"))
    assert sum(map(len, pages)) == 5
    for request in n8n.requests_to("/workflows"):
        assert request.query | {"cursor": ""} == {
            "active": "true",
            "tags": "prod,crm",
            "name": "Sync",
            "limit": "2",
            "cursor": "",
        }


def test_a_cursor_that_repeats_stops_the_iteration(n8n, client):
    page = {"data": [{"id": "a"}], "nextCursor": "c2FtZQ=="}
    n8n.fail_path(r"/workflows$", 200, body=page)
    with pytest.raises(N8nNotN8n, match="cursor repeats"):
        list(client.iter_workflows())
    assert len(n8n.requests) == 2


def test_a_truncated_listing_raises_mid_iteration(n8n):
    n8n.add_workflows(1000)
    n8n.truncate_workflow_listing(2)
    pages = []
    with make_client(n8n, max_retries=1) as client, pytest.raises(N8nServerError) as caught:
        pages.extend(client.iter_workflows())
    assert [len(p) for p in pages] == [250, 250]
    assert caught.value.status == 500
    assert len(n8n.requests) == 4  # two pages, then the third tried twice


def test_executions_come_newest_first_with_filters_and_string_ids():
    with FakeN8n(execution_ids_as_numbers=True) as n8n, make_client(n8n) as client:
        wid = n8n.add_workflow()["id"]
        for status in ("success", "error", "crashed", "success"):
            n8n.add_execution(wid, status=status, retry_of="1" if status == "crashed" else None)
        everything = [e for page in client.iter_executions(page_size=3) for e in page]
        assert [e["id"] for e in everything] == ["4", "3", "2", "1"]
        assert everything[1]["retryOf"] == "1"
        failed = [
            e["status"] for p in client.iter_executions(status="error", workflow_id=wid) for e in p
        ]
        assert failed == ["crashed", "error"]
        assert n8n.requests[-1].query == {"status": "error", "workflowId": wid, "limit": "250"}


def test_failed_execution_data_carries_node_and_message(n8n, client):
    wid = n8n.add_workflow()["id"]
    n8n.add_execution(wid, status="error", error_message="boom", error_node="Code")
    execution = client.get_execution("1", include_data=True)
    error = execution["data"]["resultData"]["error"]
    assert (error["message"], error["node"]["name"]) == ("boom", "Code")
    assert "data" not in client.get_execution("1")


# Retries


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
def test_transient_statuses_are_retried_then_succeed(n8n, client, status):
    wid = n8n.add_workflow()["id"]
    n8n.fail_next(status, times=2)
    assert client.get_workflow(wid)["id"] == wid
    assert len(n8n.requests) == 3


def test_retries_are_bounded(n8n):
    n8n.fail_path(r"/tags", 503)
    with make_client(n8n, max_retries=2) as client, pytest.raises(N8nServerError) as caught:
        client.list_tags()
    assert caught.value.status == 503
    assert len(n8n.requests) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, N8nBadRequest),
        (401, N8nUnauthorized),
        (403, N8nForbidden),
        (404, N8nNotFound),
        (405, N8nMethodNotAllowed),
        (409, N8nConflict),
    ],
)
def test_other_4xx_are_never_retried(n8n, client, status, error):
    n8n.fail_next(status, times=5, body={"message": "as n8n said it"})
    with pytest.raises(error) as caught:
        client.get_workflow("abc")
    assert caught.value.n8n_message == "as n8n said it"
    assert len(n8n.requests) == 1


def test_a_create_is_not_resent_after_a_500_it_may_have_applied(n8n, client):
    n8n.fail_next(500)
    with pytest.raises(N8nServerError):
        client.create_workflow(sample_workflow())
    assert len(n8n.requests_to("/workflows", method="POST")) == 1


def test_a_create_is_resent_after_a_429_which_n8n_did_not_act_on(n8n, client):
    n8n.fail_next(429)
    created = client.create_workflow(sample_workflow())
    assert n8n.workflow_ids() == {created["id"]}
    assert len(n8n.requests) == 2


def test_activation_is_idempotent_so_it_is_retried(n8n, client):
    wid = n8n.add_workflow()["id"]
    n8n.fail_next(502)
    assert client.activate_workflow(wid)["active"] is True
    assert len(n8n.requests) == 2


def test_backoff_doubles_caps_and_honours_retry_after(n8n, monkeypatch):
    waits = []
    monkeypatch.setattr(client_module.time, "sleep", waits.append)
    n8n.fail_next(500, times=3)
    n8n.fail_next(429, headers={"Retry-After": "30"})
    options = {"backoff_s": 1.0, "max_backoff_s": 5.0, "max_retries": 4}
    with make_client(n8n, **options) as client:
        client.list_tags()
    # Each wait is its nominal value times a jitter in [0.5, 1]; Retry-After is a floor (capped).
    assert all(n / 2 <= w <= n for w, n in zip(waits[:3], [1, 2, 4], strict=True))
    assert waits[3] == 5.0


# Typed errors


def test_a_bad_key_is_unauthorized(n8n):
    with (
        N8nClient(n8n.url, "wrong-key", allow_private=True) as client,
        pytest.raises(N8nUnauthorized) as caught,
    ):
        client.probe_version()
    assert caught.value.n8n_message == "unauthorized"
    assert caught.value.code == "n8n_unauthorized"


def test_an_unreachable_host_is_unreachable_and_retried(n8n):
    n8n.go_down()
    with (
        make_client(n8n, max_retries=2) as client,
        pytest.raises(N8nUnreachable, match="Connection refused") as caught,
    ):
        client.list_tags()
    assert caught.value.request_sent is False
    assert caught.value.retryable


def test_a_create_is_resent_when_the_connection_never_opened(n8n, monkeypatch):
    n8n.go_down()
    monkeypatch.setattr(client_module.time, "sleep", lambda s: n8n.come_back())
    with make_client(n8n) as client:
        created = client.create_workflow(sample_workflow())
    assert n8n.workflow_ids() == {created["id"]}


def test_a_slow_server_times_out(n8n):
    n8n.slow(2.0)
    with (
        make_client(n8n, timeout=(1.0, 0.2), max_retries=0) as client,
        pytest.raises(N8nTimeout, match=r"no answer within 0\.2s"),
    ):
        client.list_tags()


def test_https_to_a_plain_http_server_is_a_tls_error(n8n):
    with (
        N8nClient(f"https://127.0.0.1:{n8n.port}", API_KEY, allow_private=True) as client,
        pytest.raises(N8nTLSError),
    ):
        client.list_tags()


def test_an_answer_over_the_byte_cap_is_refused(n8n):
    big = sample_workflow("Big")
    big["nodes"][1]["parameters"] = {"blob": "x" * 50_000}
    wid = n8n.add_workflow(big)["id"]
    with (
        make_client(n8n, max_response_bytes=20_000) as client,
        pytest.raises(N8nResponseTooLarge, match="20000 bytes"),
    ):
        client.get_workflow(wid)


def test_a_streamed_answer_without_length_is_cut_at_the_cap(n8n):
    endless = json.dumps({"data": [{"id": "x" * 100}] * 5_000, "nextCursor": None}).encode()
    n8n.fail_path(r"/workflows$", 200, body=endless, chunked=True)
    with make_client(n8n, max_response_bytes=100_000) as client, pytest.raises(N8nResponseTooLarge):
        next(client.iter_workflows())


@pytest.mark.parametrize(
    ("base", "match"),
    [("/not-n8n", "text/html"), ("", "not JSON")],
    ids=["editor page", "html api"],
)
def test_something_that_is_not_n8n_is_named_so(n8n, base, match):
    if not base:
        n8n.fail_path("/api/v1/", 200, body=b"<html>proxy</html>", content_type="text/html")
    with (
        N8nClient(n8n.url + base, API_KEY, allow_private=True) as client,
        pytest.raises(N8nNotN8n, match=match),
    ):
        client.probe_version()


def test_a_404_without_json_is_not_n8n(n8n, client):
    n8n.fail_path("/api/v1/", 404, body=b"Cannot GET", content_type="text/plain")
    with pytest.raises(N8nNotN8n, match="not the n8n public API"):
        client.list_tags()


def test_redirects_are_not_followed(n8n, client):
    n8n.fail_path("/api/v1/", 301, body=b"", headers={"Location": "https://evil.example/steal"})
    with pytest.raises(N8nNotN8n, match="redirected"):
        client.list_tags()
    assert len(n8n.requests) == 1


# Workflows, tags, credentials, version


def test_writes_send_only_the_allowlisted_fields(n8n, client):
    wid = n8n.add_workflow()["id"]
    full = json.loads(json.dumps(REAL_WORKFLOW_1_123))
    full["settings"]["binaryMode"] = "separate"  # GET-only on some builds; a write refuses it
    full["staticData"] = {"node:Webhook": {"seen": 3}}
    full["nodes"][0]["color"] = "#ff0000"
    updated = client.update_workflow(wid, full)
    assert updated["name"] == full["name"]
    [put] = n8n.requests_to(f"/workflows/{wid}", method="PUT")
    body = put.json()
    assert set(body) == {"name", "nodes", "connections", "settings", "staticData"}
    assert body["settings"] == {"executionOrder": "v1", "callerPolicy": "workflowsFromSameOwner"}
    assert "color" not in body["nodes"][0]
    assert REAL_WORKFLOW_1_123["settings"]["availableInMCP"] is False  # input left untouched


def test_create_activate_deactivate_delete(n8n, client):
    created = client.create_workflow(sample_workflow())
    assert created["active"] is False
    assert client.activate_workflow(created["id"])["active"] is True
    assert client.deactivate_workflow(created["id"])["active"] is False
    assert client.delete_workflow(created["id"])["id"] == created["id"]
    with pytest.raises(N8nNotFound):
        client.get_workflow(created["id"])


def test_a_failed_activation_is_a_bad_request_with_n8ns_reason(n8n, client):
    wid = n8n.add_workflow()["id"]
    n8n.fail_activation(wid, "Credential 'Slack' is missing")
    with pytest.raises(N8nBadRequest) as caught:
        client.activate_workflow(wid)
    assert caught.value.n8n_message == "Credential 'Slack' is missing"
    assert len(n8n.requests) == 1


def test_tags_are_created_listed_and_set(n8n, client):
    wid = n8n.add_workflow()["id"]
    tag = client.create_tag("prod")
    with pytest.raises(N8nConflict):
        client.create_tag("prod")
    assert [t["name"] for t in client.list_tags()] == ["prod"]
    assert [t["id"] for t in client.set_workflow_tags(wid, [tag["id"]])] == [tag["id"]]
    assert [t["name"] for t in client.get_workflow_tags(wid)] == ["prod"]


def test_probe_tells_1x_from_2x():
    with FakeN8n() as v1, make_client(v1) as client:
        version = client.probe_version()
        assert (version.family, "405" in version.evidence) == ("1.x", True)
        with pytest.raises(N8nMethodNotAllowed):
            next(client.iter_credentials())
    with FakeN8n(version="2.x") as v2, make_client(v2) as client:
        assert client.probe_version().family == "2.x"


def test_credentials_on_2x_are_listed_without_data_and_tested():
    with FakeN8n(version="2.x") as n8n, make_client(n8n) as client:
        cred = n8n.add_credential("Slack", data={"token": "s3cr3t"})
        [page] = list(client.iter_credentials())
        assert [c["name"] for c in page] == ["Slack"]
        assert "data" not in page[0]
        assert client.test_credential(cred["id"])["status"] == "OK"


def test_credentials_are_created_from_their_type_schema_and_deleted(n8n, client):
    schema = client.credential_schema("slackApi")
    assert schema["required"] == ["accessToken"]
    with pytest.raises(N8nBadRequest, match="accessToken"):
        client.create_credential("Slack", "slackApi", {})
    made = client.create_credential("Slack", "slackApi", {"accessToken": ""})
    assert "data" not in made and made["type"] == "slackApi"
    client.delete_credential(made["id"])
    with pytest.raises(N8nNotFound):
        client.credential_schema("nopeApi")


def test_the_base_url_may_end_in_the_api_prefix(n8n):
    with N8nClient(n8n.url + "/api/v1/", API_KEY, allow_private=True) as client:
        assert client.base_url == n8n.url
        client.list_tags()
    assert n8n.requests[0].path == "/api/v1/tags"


def test_ids_are_quoted_into_the_path(n8n, client):
    with pytest.raises(N8nNotFound):
        client.get_workflow("../tags")
    # Unquoted, the URL parser would have folded this into /api/v1/tags.
    assert n8n.requests[0].path == "/api/v1/workflows/../tags"


# URL safety


def test_loopback_is_refused_unless_allowed_and_nothing_is_sent(n8n):
    with N8nClient(n8n.url, API_KEY) as client, pytest.raises(N8nAddressRefused) as caught:
        client.list_tags()
    assert "loopback" in str(caught.value)
    assert n8n.requests == []


def test_a_bad_url_is_refused_when_the_client_is_made():
    with pytest.raises(UnsafeUrlError):
        N8nClient("ftp://n8n.example.test", API_KEY)
    with pytest.raises(ValueError, match="API key"):
        N8nClient("https://n8n.example.test", "")


def test_every_connection_checks_the_address_it_connects_to(n8n, monkeypatch):
    """DNS rebinding: the name is checked when each socket opens, not once up front."""
    answers = {"n8n.example.test": ["127.0.0.1"]}
    monkeypatch.setattr(url_safety.socket, "getaddrinfo", static_resolver(answers))
    url = f"http://n8n.example.test:{n8n.port}"
    with N8nClient(url, API_KEY, allow_private=True, max_retries=0) as client:
        assert client.list_tags() == []
        answers["n8n.example.test"] = ["169.254.169.254"]
        with pytest.raises(N8nAddressRefused, match="cloud metadata"):
            client.list_tags()
    assert len(n8n.requests) == 1


# The API key stays secret


def _errors_from_every_failure(n8n):
    echo = {"message": f"bad header X-N8N-API-KEY: {API_KEY}"}
    scenarios = [
        lambda: n8n.fail_next(401, body=echo),
        lambda: n8n.fail_next(500, times=9, body=echo),
        lambda: n8n.fail_next(400, body=echo),
        lambda: n8n.fail_next(
            200, body=f"<html>{API_KEY}</html>".encode(), content_type="text/html"
        ),
        lambda: n8n.fail_next(301, body=b"", headers={"Location": f"https://x.test/?k={API_KEY}"}),
        lambda: n8n.slow(1.0, path="/tags"),
    ]
    errors = []
    with make_client(n8n, timeout=(1.0, 0.1), max_retries=1) as client:
        for arrange in scenarios:
            n8n.clear_faults()
            arrange()
            with pytest.raises(N8nError) as caught:
                client.list_tags()
            errors.append(caught.value)
        n8n.clear_faults()
        n8n.go_down()
        with pytest.raises(N8nUnreachable) as caught:
            client.list_tags()
        errors.append(caught.value)
    with N8nClient(n8n.url, API_KEY) as refused, pytest.raises(N8nAddressRefused) as caught:
        refused.list_tags()
    return [*errors, caught.value]


def test_the_api_key_never_appears_in_any_error(n8n):
    errors = _errors_from_every_failure(n8n)
    assert len({type(e) for e in errors}) >= 6
    for error in errors:
        shown = "".join(traceback.format_exception(error)) + repr(error) + str(error.n8n_message)
        assert API_KEY not in shown, type(error).__name__


def test_the_api_key_travels_only_in_its_header(n8n, client):
    n8n.add_workflows(3)
    list(client.iter_workflows(page_size=1))
    client.create_workflow(sample_workflow())
    assert repr(client) == f"N8nClient({n8n.url!r})"
    for request in n8n.requests:
        assert request.headers["x-n8n-api-key"] == API_KEY
        others = {k: v for k, v in request.headers.items() if k != "x-n8n-api-key"}
        assert API_KEY not in f"{request.path}{request.query}{others}{request.body!r}"


def test_a_json_404_from_another_server_is_not_n8n(n8n, client):
    # Some other API at the URL: it answers JSON, but 404 to a listing n8n always serves.
    n8n.fail_path("/api/v1/workflows", 404, body={"error": "no such route"})
    with pytest.raises(N8nNotN8n, match="answered 404 to a listing"):
        client.probe_version()


def test_errors_name_the_instance(n8n):
    n8n.fail_path("/api/v1/tags", 400, body={"message": "bad"})
    with (
        make_client(n8n, source="environment 'prod'") as client,
        pytest.raises(N8nBadRequest) as caught,
    ):
        client.list_tags()
    assert str(caught.value).startswith("environment 'prod': GET /tags: ")


def test_a_hung_instance_ends_at_the_deadline_of_the_work_around_it(n8n):
    n8n.slow(30.0)
    with (
        make_client(n8n, timeout=(2.0, 10.0), max_retries=3, source="environment 'prod'") as client,
        deadline.until(time.monotonic() + 0.5),
        pytest.raises(N8nTimeout, match=r"environment 'prod': GET /tags: no answer within 0\.\d+s"),
    ):
        client.list_tags()
    with client, deadline.until(time.monotonic()), pytest.raises(N8nTimeout, match="no time left"):
        client.list_tags()
