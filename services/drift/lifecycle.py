"""An incident's lifecycle (system.md §3.1): detected -> acknowledged -> stabilized ->
reconciled -> closed, by the one transition table below; closed is terminal, for everyone.

    lifecycle.transition(incident_id, "acknowledged", principal=..., reason=..., ticket_ref=...,
                         owner_user_id=...)
    lifecycle.extend_ttl(incident_id, hours=24, principal=..., reason=...)
    lifecycle.update(incident_id, principal=..., severity="high", title=...)
    lifecycle.delete(incident_id, principal=...)

Every change locks the incident row first, so concurrent changes take turns and the later
one sees the state the earlier left (409 when its step is no longer legal). Each records who,
when, why, the ticket and the owner in the timeline and the audit trail. ``admin_override``
(admins only) permits any step but out of closed and skips approval requirements; it is
audited as such. acknowledge, reconcile and extend_ttl may need an approved request
(services/drift/approvals.py, which calls back here with ``approval`` once one is approved).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from models.db import db
from models.drift import RESOLUTION_TYPES, SEVERITIES, DriftApproval, DriftIncident
from models.environments import Environment
from services import audit, entitlements, events
from services.drift import incidents, policies, timeline
from services.errors import Conflict, Forbidden, InvalidInput, NotFound, PolicyBlocked
from services.identity import Principal

#: The only transitions there are (system.md §3.1).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "detected": ("acknowledged", "closed"),
    "acknowledged": ("stabilized", "reconciled", "closed"),
    "stabilized": ("reconciled", "closed"),
    "reconciled": ("closed",),
    "closed": (),
}
#: The approval type a transition may need (policy require_approval_for_<type>).
APPROVAL_FOR = {"acknowledged": "acknowledge", "reconciled": "reconcile"}
#: Columns each target status stamps.
STAMPS = {
    "acknowledged": ("acknowledged_at", "acknowledged_by"),
    "stabilized": ("stabilized_at", "stabilized_by"),
    "reconciled": ("reconciled_at", "reconciled_by"),
    "closed": ("closed_at", "closed_by"),
}
#: Longest a TTL may be extended by at once: 30 days.
MAX_EXTENSION_HOURS = 24 * 30


def locked(incident_id: uuid.UUID) -> DriftIncident:
    """The incident, its row locked until the transaction ends (404 like a missing one)."""
    row = db.scalar(
        select(DriftIncident)
        .where(DriftIncident.id == incident_id, DriftIncident.is_deleted.is_(False))
        .with_for_update()
    )
    if row is None:
        raise NotFound("No such incident.")
    return row


def transition(
    incident_id: uuid.UUID,
    to: str,
    *,
    principal: Principal | None,
    reason: str | None = None,
    ticket_ref: str | None = None,
    owner_user_id: uuid.UUID | None = None,
    resolution_type: str | None = None,
    resolution_details: dict[str, Any] | None = None,
    admin_override: bool = False,
    approval: DriftApproval | None = None,
    system: bool = False,
    commit: bool = True,
) -> DriftIncident:
    """Move the incident to ``to``. ``system``: a resolution job reconciling after a clean
    re-check (any open state may reach reconciled then)."""
    incident = locked(incident_id)
    actor = principal.user_id if principal else None
    if admin_override and (principal is None or not principal.has_role("admin")):
        raise Forbidden("Only an admin may override the lifecycle.", code="insufficient_role")
    _check_step(incident, to, bypass=admin_override or (system and to == "reconciled"))
    _check_fields(incident, to, reason, resolution_type)
    incidents.check_owner(owner_user_id)
    if to == "acknowledged" and owner_user_id is None:
        owner_user_id = incident.owner_user_id or actor
    _require_approval(incident, to, approval, skip=admin_override or system)
    was = incident.status
    values: dict[str, Any] = {"status": to, "updated_at": func.now()}
    at, by = STAMPS[to]
    values.update({at: func.now(), by: actor})
    for name, value in (
        ("reason", reason),
        ("ticket_ref", ticket_ref),
        ("owner_user_id", owner_user_id),
        ("resolution_type", resolution_type),
        ("resolution_details", resolution_details),
    ):
        if value is not None:
            values[name] = value
    db.execute(update(DriftIncident).where(DriftIncident.id == incident.id).values(**values))
    if to == "closed":
        db.execute(
            update(Environment)
            .where(Environment.active_drift_incident_id == incident.id)
            .values(active_drift_incident_id=None)
        )
    if to == "reconciled":
        events.record(
            "drift.reconciled",
            resource_type="drift_incident",
            resource_id=incident.id,
            payload={
                "incident_id": str(incident.id),
                "environment_id": str(incident.environment_id),
                "resolution_type": resolution_type,
            },
            dedupe_key=f"drift.reconciled:{incident.id}",
        )
    _mark_executed(approval, actor)
    _history(
        incident,
        was,
        to,
        actor=actor,
        reason=reason,
        ticket_ref=ticket_ref,
        owner=owner_user_id,
        admin_override=admin_override,
        approval=approval,
    )
    if commit:
        db.commit()
    db.refresh(incident)
    return incident


def _check_step(incident: DriftIncident, to: str, *, bypass: bool) -> None:
    if to not in TRANSITIONS:
        raise InvalidInput(f"{to!r} is not an incident status.", code="invalid_status")
    if incident.status == "closed":
        raise Conflict("The incident is closed: it is never reopened.", code="incident_closed")
    if to == incident.status or (to not in TRANSITIONS[incident.status] and not bypass):
        allowed = ", ".join(TRANSITIONS[incident.status]) or "nothing"
        raise Conflict(
            f"An incident cannot go from {incident.status} to {to}; from {incident.status} it "
            f"goes to {allowed}.",
            code="illegal_transition",
            status=incident.status,
            allowed=list(TRANSITIONS[incident.status]),
        )


def _check_fields(
    incident: DriftIncident, to: str, reason: str | None, resolution_type: str | None
) -> None:
    if resolution_type is not None and resolution_type not in RESOLUTION_TYPES:
        raise InvalidInput(
            f"resolution_type is one of {', '.join(RESOLUTION_TYPES)}.",
            code="invalid_resolution_type",
        )
    if to == "reconciled" and resolution_type is None:
        raise InvalidInput("Reconciling needs a resolution_type.", code="resolution_required")
    if to == "closed":
        if not reason:
            raise InvalidInput("Closing needs a reason.", code="reason_required")
        if incident.status != "reconciled" and resolution_type is None:
            raise InvalidInput(
                "Closing an incident that was not reconciled needs a resolution_type.",
                code="resolution_required",
            )


def _require_approval(
    incident: DriftIncident, to: str, approval: DriftApproval | None, *, skip: bool
) -> None:
    kind = APPROVAL_FOR.get(to)
    if skip or approval is not None or kind is None:
        return
    require(incident, kind)


def require(incident: DriftIncident, kind: str) -> None:
    """Refuse (approval_required) when the policy wants an approved ``kind`` request first."""
    if not policies.effective(incident.environment_id).requires_approval(kind):
        return
    pending = db.scalar(
        select(DriftApproval.id).where(
            DriftApproval.incident_id == incident.id,
            DriftApproval.approval_type == kind,
            DriftApproval.status == "pending",
        )
    )
    raise PolicyBlocked(
        f"The drift policy requires an approved {kind} request for this incident"
        + (": one is pending." if pending else ": request one (POST /drift-approvals)."),
        code="approval_required",
        approval_type=kind,
        pending_approval_id=str(pending) if pending else None,
    )


def _mark_executed(approval: DriftApproval | None, actor: uuid.UUID | None) -> None:
    if approval is not None:
        db.execute(
            update(DriftApproval)
            .where(DriftApproval.id == approval.id)
            .values(executed_at=func.now(), executed_by=actor, updated_at=func.now())
        )


def _history(
    incident, was, to, *, actor, reason, ticket_ref, owner, admin_override, approval
) -> None:
    details = {"approval_id": str(approval.id)} if approval is not None else {}
    timeline.record(
        incident.id,
        to,
        actor_id=actor,
        from_status=was,
        to_status=to,
        reason=reason,
        ticket_ref=ticket_ref,
        owner_user_id=owner,
        admin_override=admin_override,
        details=details,
    )
    audit.record(
        f"drift_incident.{to}",
        resource_type="drift_incident",
        resource_id=incident.id,
        old={"status": was},
        new={
            "status": to,
            "reason": reason,
            "ticket_ref": ticket_ref,
            "owner_user_id": str(owner) if owner else None,
            "admin_override": admin_override,
            **details,
        },
    )


def _require_ttl_entitlement() -> None:
    if not entitlements.resolve()["features"].get("drift_ttl_sla"):
        raise PolicyBlocked(
            "Setting or extending an incident's TTL needs the drift_ttl_sla feature.",
            code="feature_not_entitled",
            feature="drift_ttl_sla",
        )


def extend_ttl(
    incident_id: uuid.UUID,
    *,
    hours: int,
    principal: Principal,
    reason: str | None = None,
    admin_override: bool = False,
    approval: DriftApproval | None = None,
    commit: bool = True,
) -> DriftIncident:
    """Push the incident's expiry ``hours`` further (from now if it has passed); an expired
    incident is no longer expired. Needs drift_ttl_sla and, per policy, an approval."""
    incident = locked(incident_id)  # another tenant's or a missing one: 404 before all else
    _require_ttl_entitlement()
    if not isinstance(hours, int) or not 0 < hours <= MAX_EXTENSION_HOURS:
        raise InvalidInput(
            f"hours is between 1 and {MAX_EXTENSION_HOURS}.", code="invalid_extension"
        )
    if admin_override and not principal.has_role("admin"):
        raise Forbidden("Only an admin may override the lifecycle.", code="insufficient_role")
    if incident.status == "closed":
        raise Conflict("The incident is closed.", code="incident_closed")
    if approval is None and not admin_override:
        require(incident, "extend_ttl")
    before = incident.expires_at
    base = func.greatest(func.coalesce(DriftIncident.expires_at, func.now()), func.now())
    db.execute(
        update(DriftIncident)
        .where(DriftIncident.id == incident.id)
        .values(
            expires_at=base + timedelta(hours=hours),
            ttl_source="person",
            expired_at=None,
            ttl_warning_sent_at=None,
            updated_at=func.now(),
        )
    )
    _mark_executed(approval, principal.user_id)
    db.refresh(incident)
    details = {"hours": hours, "before": _iso(before), "after": _iso(incident.expires_at)}
    timeline.record(
        incident.id, "ttl_extended", actor_id=principal.user_id, reason=reason,
        admin_override=admin_override, details=details,
    )  # fmt: skip
    audit.record(
        "drift_incident.extend_ttl",
        resource_type="drift_incident",
        resource_id=incident.id,
        old={"expires_at": details["before"]},
        new={"expires_at": details["after"], "reason": reason, "admin_override": admin_override},
    )
    if commit:
        db.commit()
    return incident


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


#: Fields a person may change on an open incident.
EDITABLE = ("title", "reason", "ticket_ref", "owner_user_id", "severity")


def update_fields(incident_id: uuid.UUID, *, principal: Principal, **values: Any) -> DriftIncident:
    """Change an incident's title, reason, ticket, owner or severity (then set by a person:
    the rules no longer move it; the TTL follows it unless a person set that too)."""
    incident = locked(incident_id)
    if incident.status == "closed":
        raise Conflict("The incident is closed.", code="incident_closed")
    changes = {k: v for k, v in values.items() if k in EDITABLE}
    incidents.check_owner(changes.get("owner_user_id"))
    if "severity" in changes:
        if changes["severity"] not in SEVERITIES:
            raise InvalidInput(f"severity is one of {', '.join(SEVERITIES)}.", code="invalid")
        changes["severity_source"] = "person"
        if incident.ttl_source == "rules":
            policy = policies.effective(incident.environment_id)
            changes["expires_at"] = incidents.expiry(
                policy, changes["severity"], incident.detected_at
            )
    old = {k: _plain(getattr(incident, k)) for k in changes}
    db.execute(
        update(DriftIncident)
        .where(DriftIncident.id == incident.id)
        .values(**changes, updated_at=func.now())
    )
    new = {k: _plain(v) for k, v in changes.items()}
    timeline.record(incident.id, "updated", actor_id=principal.user_id, details=new)
    audit.record(
        "drift_incident.update",
        resource_type="drift_incident",
        resource_id=incident.id,
        old=old,
        new=new,
    )
    db.commit()
    db.refresh(incident)
    return incident


def _plain(value: Any) -> Any:
    return (
        value.isoformat()
        if isinstance(value, datetime)
        else (str(value) if isinstance(value, uuid.UUID) else value)
    )


def delete(incident_id: uuid.UUID, *, principal: Principal) -> None:
    """Soft-delete an incident (admins): it leaves every list and frees its environment."""
    incident = locked(incident_id)
    db.execute(
        update(DriftIncident)
        .where(DriftIncident.id == incident.id)
        .values(is_deleted=True, deleted_at=func.now(), updated_at=func.now())
    )
    db.execute(
        update(Environment)
        .where(Environment.active_drift_incident_id == incident.id)
        .values(active_drift_incident_id=None)
    )
    timeline.record(incident.id, "deleted", actor_id=principal.user_id)
    audit.record(
        "drift_incident.delete",
        resource_type="drift_incident",
        resource_id=incident.id,
        old={"status": incident.status},
    )
    db.commit()
