"""The executions API: keyset-paged listing and filters, one execution, analytics, tenancy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from models.db import db
from services import execution_rollups, execution_writes, sync

NOW = datetime.now(UTC).replace(microsecond=0)
#: Relative error of a percentile read from the roll-ups' histograms: one bucket's width.
BUCKET_ERROR = 2 ** (1 / execution_rollups.BUCKETS_PER_DOUBLING) - 1


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


def _execution(
    n8n_id: int,
    workflow_id: str,
    status: str = "success",
    *,
    started: datetime | None = NOW,
    ms: int | None = 0,
    mode: str = "trigger",
) -> dict:
    """An n8n list item; ``ms`` None leaves it unstopped."""
    stopped = started + timedelta(milliseconds=ms) if started and ms is not None else None
    return {
        "id": str(n8n_id),
        "workflowId": workflow_id,
        "status": status,
        "mode": mode,
        "startedAt": _iso(started),
        "stoppedAt": _iso(stopped),
        "retryOf": None,
    }


def _store(factory, tenant_id, environment, page, details=None) -> None:
    """Store executions through ingestion's own upsert."""

    def upsert():
        execution_writes.upsert_page(environment, page, details)
        db.commit()

    factory.run_as(tenant_id, upsert)


def _ids(response) -> list[str]:
    return [item["n8n_execution_id"] for item in response.json]


# --- listing -------------------------------------------------------------------------------


def test_keyset_pages_neither_repeat_nor_skip_rows_sharing_a_start_time(
    client, factory, tenant, environment
):
    page = [_execution(i, "wf", started=NOW) for i in range(1, 11)]  # one start time
    page += [_execution(i, "wf", started=NOW - timedelta(minutes=i)) for i in range(11, 18)]
    page += [_execution(i, "wf", "new", started=None, ms=None) for i in range(18, 21)]
    _store(factory, tenant.id, environment, page)
    everything = client.get("/api/v1/executions?limit=200", headers=tenant.viewer)
    assert "X-Next-Cursor" not in everything.headers

    seen, url, pages = [], "/api/v1/executions?limit=3", 0
    while url:
        response = client.get(url, headers=tenant.viewer)
        assert response.status_code == 200
        assert len(response.json) <= 3
        seen += response.json
        pages += 1
        cursor = response.headers.get("X-Next-Cursor")
        if cursor:
            assert f"cursor={cursor}" in response.headers["Link"]
            assert response.headers["Link"].endswith('; rel="next"')
        url = f"/api/v1/executions?limit=3&cursor={cursor}" if cursor else None

    assert pages == 7
    assert [e["id"] for e in seen] == [e["id"] for e in everything.json]
    assert len({e["id"] for e in seen}) == 20
    # Not started yet first, then newest start first; ties by id, descending.
    assert {e["n8n_execution_id"] for e in seen[:3]} == {"18", "19", "20"}
    assert {e["n8n_execution_id"] for e in seen[3:13]} == {str(i) for i in range(1, 11)}
    assert _ids(everything)[13:] == [str(i) for i in range(11, 18)]
    tie = [e["id"] for e in seen[3:13]]
    assert tie == sorted(tie, reverse=True)


def test_filters_narrow_the_listing(client, factory, tenant, environment, fake_n8n):
    other_env = factory.environment(tenant.id, fake_n8n)
    _store(
        factory,
        tenant.id,
        environment,
        [
            _execution(1, "a", "success", started=NOW - timedelta(hours=3)),
            _execution(2, "a", "error", started=NOW - timedelta(hours=2), mode="manual"),
            _execution(3, "b", "crashed", started=NOW - timedelta(hours=1)),
            _execution(4, "b", "waiting", started=NOW, ms=None),
        ],
    )
    _store(factory, tenant.id, other_env, [_execution(9, "a", "error")])

    def listed(query: str) -> list[str]:
        response = client.get(f"/api/v1/executions?{query}", headers=tenant.viewer)
        assert response.status_code == 200, response.json
        return sorted(_ids(response))

    env = f"environment_id={environment.id}"
    assert listed(env) == ["1", "2", "3", "4"]
    assert listed(f"environment_id={other_env.id}") == ["9"]
    assert listed(f"{env}&workflow_id=a") == ["1", "2"]
    assert listed(f"{env}&status=error") == ["2", "3"]
    assert listed(f"{env}&status=error&status=waiting") == ["2", "3", "4"]
    assert listed(f"{env}&mode=manual") == ["2"]
    after = _iso(NOW - timedelta(hours=2))
    before = _iso(NOW - timedelta(hours=1))
    assert listed(f"{env}&started_after={after}") == ["2", "3", "4"]
    assert listed(f"{env}&started_after={after}&started_before={before}") == ["2"]
    assert listed("status=error") == ["2", "3", "9"]


def test_one_execution_with_its_fields(client, factory, tenant, environment):
    started = NOW - timedelta(minutes=5)
    _store(
        factory,
        tenant.id,
        environment,
        [_execution(7, "wf", "error", started=started, ms=1234)],
        {"7": ("Bad request", "HTTP Request")},
    )
    [listed] = client.get("/api/v1/executions", headers=tenant.viewer).json
    one = client.get(f"/api/v1/executions/{listed['id']}", headers=tenant.viewer)
    assert one.status_code == 200
    assert one.json == listed
    assert one.json["environment_id"] == str(environment.id)
    assert (one.json["status"], one.json["normalized_status"]) == ("error", "error")
    assert one.json["execution_time"] == 1234
    assert (one.json["error_message"], one.json["error_node"]) == ("Bad request", "HTTP Request")
    assert datetime.fromisoformat(one.json["started_at"]) == started


def test_a_bad_cursor_is_refused(client, tenant):
    response = client.get("/api/v1/executions?cursor=not-a-cursor", headers=tenant.viewer)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_cursor"


# --- tenancy -------------------------------------------------------------------------------


def test_another_tenants_executions_are_invisible(client, factory, tenant, other_tenant, fake_n8n):
    theirs = factory.environment(other_tenant.id, fake_n8n)
    _store(factory, other_tenant.id, theirs, [_execution(1, "wf", "error")])
    [their_execution] = client.get("/api/v1/executions", headers=other_tenant.viewer).json

    one = client.get(f"/api/v1/executions/{their_execution['id']}", headers=tenant.admin)
    missing = client.get(f"/api/v1/executions/{uuid.uuid4()}", headers=tenant.admin)
    assert one.status_code == missing.status_code == 404
    assert one.json == missing.json
    listed = client.get(f"/api/v1/executions?environment_id={theirs.id}", headers=tenant.admin)
    assert (listed.status_code, listed.json) == (200, [])
    for path in ("/api/v1/executions/analytics", "/api/v1/executions/analytics/workflows"):
        response = client.get(f"{path}?environment_id={theirs.id}", headers=tenant.admin)
        assert response.status_code == 404, path


# --- analytics -----------------------------------------------------------------------------


@pytest.fixture
def known(factory, tenant, environment, fake_n8n) -> dict[str, str]:
    """Executions with known outcomes and durations; workflow A is named (synced), B not."""
    a = fake_n8n.add_workflow(name="Billing")["id"]
    factory.run_as(tenant.id, sync.sync_workflows, environment.id)
    b, c = "b-not-synced", "c-always-fine"
    # Measured from the fixture's own moment, not the module's import: the windows the tests
    # ask for end at the request, which may come minutes after the import under a full run.
    now = datetime.now(UTC).replace(microsecond=0)
    minutes = lambda n: now - timedelta(minutes=n)  # noqa: E731
    page = [
        _execution(1, a, started=minutes(60), ms=100),
        _execution(2, a, started=minutes(55), ms=200),
        _execution(3, a, started=minutes(50), ms=300),
        _execution(4, a, started=minutes(45), ms=400),
        _execution(5, a, "error", started=minutes(30), ms=1000),
        _execution(6, a, "running", started=minutes(1), ms=None),
        _execution(7, a, "crashed", started=minutes(120), ms=500),
        _execution(8, b, "error", started=minutes(10), ms=50),
        _execution(9, b, started=minutes(20), ms=150),
        _execution(10, b, "waiting", started=minutes(5), ms=None),
        _execution(11, c, started=minutes(15), ms=10),
        # Outside a 24-hour window:
        _execution(12, a, "error", started=now - timedelta(hours=30), ms=99_999),
    ]
    details = {"5": ("boom", "HTTP"), "7": (None, "Code"), "8": ("b failed", "Code")}
    _store(factory, tenant.id, environment, page, details)
    return {"a": a, "b": b, "c": c}


def _get(client, tenant, path: str):
    response = client.get(f"/api/v1/executions/analytics{path}", headers=tenant.viewer)
    assert response.status_code == 200, response.json
    return response.json


def _between(value: float, low: float, high: float) -> bool:
    """A percentile read from roll-ups: in the histogram buckets of the durations around its
    rank (within a bucket's width, 9 %, of each)."""
    return low / (1 + BUCKET_ERROR) <= value <= high * (1 + BUCKET_ERROR)


def test_environment_analytics_over_a_window(client, tenant, environment, known):
    figures = _get(client, tenant, f"?environment_id={environment.id}&window_hours=24")
    assert figures["environment_id"] == str(environment.id)
    assert (figures["window_hours"], figures["workflow_id"]) == (24, None)
    assert figures["counts"] == {"total": 11, "success": 6, "error": 3, "running": 1, "waiting": 1}
    # Unfinished executions have no outcome: 3 errors of 9 finished.
    assert figures["error_rate"] == pytest.approx(3 / 9)
    # Durations 10, 50, 100, 150, 200, 300, 400, 500, 1000 (unfinished ones have none): over
    # more than an hour, from the roll-ups' histograms.
    assert figures["duration_ms"]["p50"] == pytest.approx(200.0, rel=BUCKET_ERROR)
    assert _between(figures["duration_ms"]["p95"], 500, 1000)
    last = figures["last_failure"]
    assert (last["n8n_execution_id"], last["error_message"], last["error_node"]) == (
        "8",
        "b failed",
        "Code",
    )
    wider = _get(client, tenant, f"?environment_id={environment.id}&window_hours=48")
    assert wider["counts"]["error"] == 4 and wider["counts"]["total"] == 12


def test_analytics_over_one_hour_are_exact(client, tenant, environment, known):
    figures = _get(client, tenant, f"?environment_id={environment.id}&window_hours=1")
    assert figures["counts"] == {"total": 9, "success": 5, "error": 2, "running": 1, "waiting": 1}
    # Durations 10, 50, 150, 200, 300, 400, 1000, as percentile_cont places them.
    assert figures["duration_ms"] == {"p50": 200.0, "p95": pytest.approx(820.0)}


def test_workflow_analytics(client, tenant, environment, known):
    query = f"?environment_id={environment.id}&workflow_id={known['a']}"
    figures = _get(client, tenant, query)
    assert figures["workflow_id"] == known["a"]
    assert figures["counts"] == {"total": 7, "success": 4, "error": 2, "running": 1, "waiting": 0}
    assert figures["error_rate"] == pytest.approx(2 / 6)
    # Durations 100, 200, 300, 400, 500, 1000.
    assert _between(figures["duration_ms"]["p50"], 300, 400)
    assert _between(figures["duration_ms"]["p95"], 500, 1000)
    assert figures["last_failure"]["error_message"] == "boom"
    assert figures["last_failure"]["error_node"] == "HTTP"


def test_per_workflow_table(client, tenant, environment, known):
    rows = _get(client, tenant, f"/workflows?environment_id={environment.id}&window_hours=24")
    assert [r["workflow_id"] for r in rows] == [known["a"], known["b"], known["c"]]
    a, b, c = rows
    assert a["workflow_name"] == "Billing" and b["workflow_name"] is None
    assert a["counts"]["error"] == 2 and _between(a["duration_ms"]["p50"], 300, 400)
    assert a["last_failure"]["error_message"] == "boom"
    assert b["counts"] == {"total": 3, "success": 1, "error": 1, "running": 0, "waiting": 1}
    assert b["error_rate"] == 0.5
    assert _between(b["duration_ms"]["p50"], 50, 150)
    assert _between(b["duration_ms"]["p95"], 50, 150)
    assert b["last_failure"]["error_node"] == "Code"
    assert c["error_rate"] == 0.0 and c["last_failure"] is None


def test_analytics_of_an_empty_window(client, tenant, environment):
    figures = _get(client, tenant, f"?environment_id={environment.id}")
    assert figures["counts"]["total"] == 0
    assert figures["error_rate"] is None
    assert figures["duration_ms"] == {"p50": None, "p95": None}
    assert figures["last_failure"] is None
    rows = _get(client, tenant, f"/workflows?environment_id={environment.id}")
    assert rows == []


def test_analytics_needs_an_environment(client, tenant):
    response = client.get("/api/v1/executions/analytics", headers=tenant.viewer)
    assert response.status_code == 422
    assert "environment_id" in response.json["details"]["fields"]["query"]
