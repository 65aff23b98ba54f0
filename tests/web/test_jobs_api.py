"""The jobs API: poll, filter, cancel, rerun (one and bulk), stats, healthcheck."""

from __future__ import annotations

import time
import uuid

from tests.jobs.helpers import start_job, wait_for


def _poll(client, headers, job_id, *, until=("completed", "failed", "cancelled"), timeout=15):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json
        seen.append(body)
        if body["status"] in until:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"job stayed {seen[-1]['status']}")


def test_healthcheck_job_is_polled_from_pending_to_completed(client, tenant, worker):
    worker.pause()
    created = client.post("/api/v1/jobs/healthcheck", headers=tenant.admin)
    assert created.status_code == 202
    assert created.headers["Location"].endswith(f"/api/v1/jobs/{created.json['id']}")
    pending = client.get(f"/api/v1/jobs/{created.json['id']}", headers=tenant.viewer)
    assert pending.json["status"] == "pending"
    assert pending.headers["Retry-After"] == "2"
    worker.resume()
    final = _poll(client, tenant.viewer, created.json["id"])[-1]
    assert final["status"] == "completed"
    assert final["result"]["database"] == final["result"]["broker"] == "ok"
    assert final["triggered_by"] == "user"
    assert final["triggered_by_user_id"] == str(tenant.user_ids["admin"])


def test_progress_is_seen_between_pending_and_completed(app, client, tenant, worker):
    first = start_job(app, tenant.id, params={"steps": 4, "step_seconds": 0.5})
    wait_for(app, tenant.id, first)
    rerun = client.post(f"/api/v1/jobs/{first}/rerun", headers=tenant.developer)
    assert rerun.status_code == 202
    seen = _poll(client, tenant.viewer, rerun.json["id"])
    statuses = [body["status"] for body in seen]
    assert statuses[-1] == "completed"
    in_between = [b["progress"]["percentage"] for b in seen if b["status"] == "running"]
    assert any(0 < p < 100 for p in in_between), in_between
    assert seen[-1]["progress"]["percentage"] == 100


def test_rerun_links_both_ways_and_leaves_the_old_job_unchanged(app, client, tenant, worker):
    first = start_job(app, tenant.id, params={"steps": 1})
    wait_for(app, tenant.id, first)
    before = client.get(f"/api/v1/jobs/{first}", headers=tenant.viewer).json
    rerun = client.post(f"/api/v1/jobs/{first}/rerun", headers=tenant.developer).json
    assert rerun["rerun_of_id"] == str(first)
    assert rerun["triggered_by"] == "rerun"
    after = client.get(f"/api/v1/jobs/{first}", headers=tenant.viewer).json
    assert after["reruns"] == [rerun["id"]]
    assert {k: v for k, v in after.items() if k != "reruns"} == {
        k: v for k, v in before.items() if k != "reruns"
    }


def test_the_poll_shows_the_job_as_the_list_does_and_its_reruns(app, client, tenant):
    job_id = start_job(app, tenant.id, params={"n": 1})
    polled = client.get(f"/api/v1/jobs/{job_id}", headers=tenant.viewer).json
    listed = client.get("/api/v1/jobs?job_type=noop", headers=tenant.viewer).json
    assert polled == {**next(j for j in listed if j["id"] == str(job_id)), "reruns": []}


def test_rerun_of_an_active_job_is_a_conflict(app, client, tenant):
    job_id = start_job(app, tenant.id)
    response = client.post(f"/api/v1/jobs/{job_id}/rerun", headers=tenant.developer)
    assert response.status_code == 409
    assert response.json["error"] == "job_active"


def test_etag_lets_pollers_skip_unchanged_bodies(app, client, tenant):
    job_id = start_job(app, tenant.id)
    first = client.get(f"/api/v1/jobs/{job_id}", headers=tenant.viewer)
    etag = first.headers["ETag"]
    again = client.get(f"/api/v1/jobs/{job_id}", headers={**tenant.viewer, "If-None-Match": etag})
    assert again.status_code == 304
    client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tenant.developer)
    changed = client.get(f"/api/v1/jobs/{job_id}", headers={**tenant.viewer, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json["status"] == "cancelled"
    assert "Retry-After" not in changed.headers


def test_cancel_via_api(app, client, tenant):
    job_id = start_job(app, tenant.id)
    response = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tenant.developer)
    assert response.status_code == 202
    assert response.json["status"] == "cancelled"
    again = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=tenant.developer)
    assert again.status_code == 409


def test_list_filters_and_order(app, client, tenant):
    ids = [start_job(app, tenant.id, params={"n": n}) for n in range(3)]
    client.post(f"/api/v1/jobs/{ids[0]}/cancel", headers=tenant.developer)
    everything = client.get("/api/v1/jobs?job_type=noop", headers=tenant.viewer)
    assert [j["id"] for j in everything.json] == [str(i) for i in reversed(ids)]
    assert everything.headers["X-Total-Count"] == "3"
    pending = client.get("/api/v1/jobs?status=pending&status=running", headers=tenant.viewer)
    assert {j["id"] for j in pending.json} == {str(ids[1]), str(ids[2])}
    cancelled = client.get("/api/v1/jobs?status=cancelled", headers=tenant.viewer).json
    assert [j["id"] for j in cancelled] == [str(ids[0])]
    created = everything.json[1]["created_at"]
    before = client.get(
        "/api/v1/jobs", query_string={"created_before": created}, headers=tenant.viewer
    ).json
    assert [j["id"] for j in before] == [str(ids[0])]
    bad = client.get("/api/v1/jobs?status=exploded", headers=tenant.viewer)
    assert bad.status_code == 422


def test_list_filters_by_resource_and_rerun_of(app, client, tenant):
    resource = uuid.uuid4()
    mine = start_job(app, tenant.id, resource_type="environment", resource_id=resource)
    start_job(app, tenant.id, resource_type="environment", resource_id=uuid.uuid4())
    found = client.get(
        "/api/v1/jobs",
        query_string={"resource_type": "environment", "resource_id": resource},
        headers=tenant.viewer,
    ).json
    assert [j["id"] for j in found] == [str(mine)]
    alone = client.get(
        "/api/v1/jobs", query_string={"resource_id": resource}, headers=tenant.viewer
    )
    assert alone.status_code == 422


def test_bulk_rerun_dry_run_then_for_real(app, client, tenant, worker):
    failing = [start_job(app, tenant.id, params={"succeed_on_attempt": 99}) for _ in range(2)]
    for job_id in failing:
        assert wait_for(app, tenant.id, job_id).status == "failed"
    body = {"status": ["failed"], "job_type": "noop", "dry_run": True}
    dry = client.post("/api/v1/jobs/rerun", json=body, headers=tenant.admin)
    assert dry.status_code == 200
    assert dry.json["matched"] == 2
    assert {r["job_id"] for r in dry.json["rerun"]} == {str(j) for j in failing}
    assert (
        client.get("/api/v1/jobs?job_type=noop", headers=tenant.viewer).headers["X-Total-Count"]
        == "2"
    )
    real = client.post("/api/v1/jobs/rerun", json={**body, "dry_run": False}, headers=tenant.admin)
    assert real.json["matched"] == 2
    new_ids = [r["new_job_id"] for r in real.json["rerun"]]
    assert len(new_ids) == 2
    listed = client.get(
        "/api/v1/jobs", query_string={"rerun_of": failing[0]}, headers=tenant.viewer
    ).json
    assert len(listed) == 1 and listed[0]["id"] in new_ids


def test_bulk_rerun_refuses_active_statuses(client, tenant):
    response = client.post("/api/v1/jobs/rerun", json={"status": ["running"]}, headers=tenant.admin)
    assert response.status_code == 400


def test_stats_count_by_status_and_kind(app, client, tenant):
    start_job(app, tenant.id)
    cancelled = start_job(app, tenant.id)
    client.post(f"/api/v1/jobs/{cancelled}/cancel", headers=tenant.developer)
    stats = client.get("/api/v1/jobs/stats", headers=tenant.viewer).json
    assert stats["by_status"] == {"pending": 1, "cancelled": 1}
    assert stats["by_job_type"] == {"noop": {"pending": 1, "cancelled": 1}}
    assert stats["oldest_pending_age_seconds"] >= 0
    assert "queues" not in stats


def test_the_total_of_a_filtered_list_is_the_number_of_its_jobs(app, client, tenant):
    env_id = uuid.uuid4()
    for _ in range(3):
        start_job(app, tenant.id, resource_type="environment", resource_id=env_id)
    start_job(app, tenant.id, "healthcheck")
    cancelled = start_job(app, tenant.id)
    client.post(f"/api/v1/jobs/{cancelled}/cancel", headers=tenant.developer)
    expected = {
        "": 5,
        "status=pending": 4,
        "status=pending&status=cancelled": 5,
        "job_type=noop": 4,
        "job_type=noop&status=pending": 3,
        "job_type=drift_check": 0,
        # Filters the summary does not keep are counted from the jobs.
        f"resource_type=environment&resource_id={env_id}": 3,
    }
    totals = {}
    for query in expected:
        listed = client.get(f"/api/v1/jobs?limit=1&page=2&{query}", headers=tenant.viewer)
        totals[query] = int(listed.headers["X-Total-Count"])
    assert totals == expected


def test_stats_show_only_the_callers_tenant(app, client, tenant, other_tenant):
    start_job(app, other_tenant.id)
    stats = client.get("/api/v1/jobs/stats", headers=tenant.admin).json
    assert stats == {"by_status": {}, "by_job_type": {}, "oldest_pending_age_seconds": None}


def test_every_role_sees_a_failed_jobs_error_but_never_its_traceback(app, client, tenant):
    from jobs import attempts

    job_id = start_job(app, tenant.id)
    claim = attempts.claim(job_id, tenant.id, message_id="m1")
    try:
        raise RuntimeError("the n8n instance said no")
    except RuntimeError as error:
        assert attempts.finish(claim, "failed", error=error)
    for role in ("viewer", "developer", "admin"):
        for url in (f"/api/v1/jobs/{job_id}", "/api/v1/jobs?status=failed"):
            response = client.get(url, headers=tenant.headers(role))
            body = response.get_data(as_text=True)
            assert "Traceback" not in body and "test_jobs_api.py" not in body
            job = response.json if isinstance(response.json, dict) else response.json[0]
            assert job["error"] == {
                "class": "builtins.RuntimeError",
                "message": "the n8n instance said no",
            }


def test_idempotency_key_header_returns_the_same_job(client, tenant, worker):
    headers = {**tenant.admin, "Idempotency-Key": "hc-1"}
    first = client.post("/api/v1/jobs/healthcheck", headers=headers).json
    second = client.post("/api/v1/jobs/healthcheck", headers=headers).json
    assert first["id"] == second["id"]
    other = client.post(
        "/api/v1/jobs/healthcheck", headers={**tenant.admin, "Idempotency-Key": "hc-2"}
    ).json
    assert other["id"] != first["id"]


def test_another_tenants_job_is_a_404(app, client, tenant, other_tenant):
    theirs = start_job(app, other_tenant.id)
    for call in (
        lambda: client.get(f"/api/v1/jobs/{theirs}", headers=tenant.admin),
        lambda: client.post(f"/api/v1/jobs/{theirs}/cancel", headers=tenant.admin),
        lambda: client.post(f"/api/v1/jobs/{theirs}/rerun", headers=tenant.admin),
    ):
        assert call().status_code == 404
    assert client.get("/api/v1/jobs", headers=tenant.admin).json == []
