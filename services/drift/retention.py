"""Drift retention of one tenant (system.md §4.6), set-based, each environment under its own
policy (days; 0 keeps forever): the payloads of closed incidents (the snapshot, the affected
list, the timeline's details) and of their reconciliation artifacts are emptied with
payload_purged_at set; decided approvals of closed incidents and old check history are
deleted. Open incidents and everything of theirs are never touched.

    retention.purge() -> {"incidents": n, "artifacts": n, "approvals": n, "checks": n}
"""

from __future__ import annotations

from sqlalchemy import text

from models.db import current_tenant, db
from services.drift import policies

#: Each environment's retention days: its own policy, else the tenant's, else the defaults.
_DAYS = """
WITH days AS (
    SELECT e.id AS environment_id,
           coalesce(pe.closed_incident_retention_days, pt.closed_incident_retention_days,
                    :closed) AS closed,
           coalesce(pe.reconciliation_artifact_retention_days,
                    pt.reconciliation_artifact_retention_days, :artifacts) AS artifacts,
           coalesce(pe.approval_retention_days, pt.approval_retention_days, :approvals)
               AS approvals,
           coalesce(pe.check_history_retention_days, pt.check_history_retention_days,
                    :checks) AS checks
      FROM environments e
      LEFT JOIN drift_policies pe ON pe.tenant_id = e.tenant_id AND pe.environment_id = e.id
      LEFT JOIN drift_policies pt ON pt.tenant_id = e.tenant_id AND pt.environment_id IS NULL
     WHERE e.tenant_id = :tenant
)
"""

_INCIDENTS = text(
    _DAYS
    + """
, purged AS (
    UPDATE drift_incidents i
       SET drift_snapshot = NULL, affected_workflows = '[]'::jsonb, resolution_details = NULL,
           payload_purged_at = now()
      FROM days d
     WHERE i.tenant_id = :tenant AND i.environment_id = d.environment_id
       AND i.status = 'closed' AND i.payload_purged_at IS NULL AND d.closed > 0
       AND i.closed_at < now() - make_interval(days => d.closed)
    RETURNING i.id
), events AS (
    UPDATE drift_incident_events ev SET details = '{}'::jsonb, payload_purged_at = now()
      FROM purged p
     WHERE ev.tenant_id = :tenant AND ev.incident_id = p.id AND ev.details <> '{}'::jsonb
    RETURNING ev.id
)
SELECT count(*) FROM purged
"""
)
_ARTIFACTS = text(
    _DAYS
    + """
UPDATE reconciliation_artifacts a SET artifact_data = '{}'::jsonb, payload_purged_at = now()
  FROM drift_incidents i JOIN days d ON d.environment_id = i.environment_id
 WHERE a.tenant_id = :tenant AND i.tenant_id = :tenant AND a.incident_id = i.id
   AND i.status = 'closed' AND a.payload_purged_at IS NULL AND d.artifacts > 0
   AND a.created_at < now() - make_interval(days => d.artifacts)
"""
)
_APPROVALS = text(
    _DAYS
    + """
DELETE FROM drift_approvals a USING drift_incidents i, days d
 WHERE a.tenant_id = :tenant AND i.tenant_id = :tenant AND a.incident_id = i.id
   AND d.environment_id = i.environment_id AND i.status = 'closed' AND a.status <> 'pending'
   AND d.approvals > 0 AND a.created_at < now() - make_interval(days => d.approvals)
"""
)
_CHECKS = text(
    _DAYS
    + """
DELETE FROM drift_check_history h USING days d
 WHERE h.tenant_id = :tenant AND h.environment_id = d.environment_id AND d.checks > 0
   AND h.checked_at < now() - make_interval(days => d.checks)
"""
)


def purge() -> dict[str, int]:
    """Apply every environment's retention once; committed."""
    defaults = policies.DEFAULTS
    params = {
        "tenant": current_tenant(),
        "closed": defaults["closed_incident_retention_days"],
        "artifacts": defaults["reconciliation_artifact_retention_days"],
        "approvals": defaults["approval_retention_days"],
        "checks": defaults["check_history_retention_days"],
    }
    result = {
        "incidents": db.execute(_INCIDENTS, params).scalar_one(),
        "artifacts": db.execute(_ARTIFACTS, params).rowcount,
        "approvals": db.execute(_APPROVALS, params).rowcount,
        "checks": db.execute(_CHECKS, params).rowcount,
    }
    db.commit()
    return result
