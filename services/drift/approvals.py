"""Drift approvals (system.md §3.7): a request to acknowledge, extend the TTL of, close or
reconcile an incident, or to let promotions pass its drift (deployment_override); pending ->
approved | rejected (by someone other than the requester) or cancelled (by the requester or an
admin). One pending request per incident and type; a request lapses after the policy's
approval_expiry_hours. Approving executes the action, in the approver's name, in the same
transaction: if the action is refused (the incident moved on), nothing is decided.

Deciding is one conditional UPDATE ... WHERE status = 'pending': two approvers at once resolve
to exactly one decision, the other gets 409.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, update

from models.db import db
from models.drift import APPROVAL_TYPES, DriftApproval
from services import audit
from services.drift import attestations, incidents, lifecycle, policies, timeline
from services.errors import Conflict, Forbidden, InvalidInput
from services.identity import Principal
from services.rows import flush_unique, get_or_404

#: The lifecycle step each approval type performs.
TARGET_STATUS = {"acknowledge": "acknowledged", "close": "closed", "reconcile": "reconciled"}


def get(approval_id: uuid.UUID) -> DriftApproval:
    return get_or_404(DriftApproval, approval_id, "No such approval.")


def list_query(*, incident_id: uuid.UUID | None = None, status: str | None = None) -> Select:
    query = select(DriftApproval)
    if incident_id:
        query = query.where(DriftApproval.incident_id == incident_id)
    if status:
        query = query.where(DriftApproval.status == status)
    return query.order_by(DriftApproval.created_at.desc(), DriftApproval.id.desc())


def request(
    incident_id: uuid.UUID,
    approval_type: str,
    *,
    principal: Principal,
    reason: str | None = None,
    ttl_extension_hours: int | None = None,
    action_params: dict[str, Any] | None = None,
) -> DriftApproval:
    """Ask for an approval; 409 while the incident has a pending one of this type."""
    if approval_type not in APPROVAL_TYPES:
        raise InvalidInput(
            f"approval_type is one of {', '.join(APPROVAL_TYPES)}.", code="invalid_approval_type"
        )
    incident = incidents.get(incident_id)
    if incident.status == "closed":
        raise Conflict("The incident is closed.", code="incident_closed")
    if approval_type == "extend_ttl" and not ttl_extension_hours:
        raise InvalidInput("An extend_ttl request names ttl_extension_hours.", code="invalid")
    policy = policies.effective(incident.environment_id)
    # A lapsed request no longer holds the incident's one pending place for its type.
    db.execute(
        update(DriftApproval)
        .where(
            DriftApproval.incident_id == incident.id,
            DriftApproval.approval_type == approval_type,
            DriftApproval.status == "pending",
            DriftApproval.expires_at <= func.now(),
        )
        .values(status="cancelled", review_notes="Lapsed unanswered.", updated_at=func.now())
    )
    row = DriftApproval(
        incident_id=incident.id,
        approval_type=approval_type,
        requested_by=principal.user_id,
        request_reason=reason,
        ttl_extension_hours=ttl_extension_hours,
        action_params=action_params or {},
        expires_at=func.now() + timedelta(hours=policy.approval_expiry_hours),
    )
    db.add(row)
    flush_unique(f"The incident has a pending {approval_type} request already.")
    timeline.record(
        incident.id, "approval", actor_id=principal.user_id, reason=reason,
        details={"approval_id": str(row.id), "type": approval_type, "status": "pending"},
    )  # fmt: skip
    audit.record(
        "drift_approval.request",
        resource_type="drift_approval",
        resource_id=row.id,
        new={"incident_id": str(incident.id), "type": approval_type, "reason": reason},
    )
    db.commit()
    db.refresh(row)
    return row


def _decide(approval_id: uuid.UUID, status: str, principal: Principal, notes: str | None):
    """The one conditional update that decides; 403/409 saying why when it cannot."""
    row = db.execute(
        update(DriftApproval)
        .where(
            DriftApproval.id == approval_id,
            DriftApproval.status == "pending",
            DriftApproval.requested_by.is_distinct_from(principal.user_id),
            or_(DriftApproval.expires_at.is_(None), DriftApproval.expires_at > func.now()),
        )
        .values(
            status=status,
            reviewed_by=principal.user_id,
            review_notes=notes,
            reviewed_at=func.now(),
            updated_at=func.now(),
        )
        .returning(DriftApproval)
    ).scalar_one_or_none()
    if row is not None:
        return row
    current = get(approval_id)
    if current.status != "pending":
        raise Conflict(f"The request is {current.status} already.", code="already_decided")
    if current.requested_by == principal.user_id:
        raise Forbidden("Nobody may decide their own request.", code="own_request")
    raise Conflict("The request has expired.", code="approval_expired")


def approve(approval_id: uuid.UUID, *, principal: Principal, notes: str | None = None):
    """Approve and execute the requested action, in one transaction."""
    row = _decide(approval_id, "approved", principal, notes)
    try:
        _execute(row, principal)
    except Exception:
        db.rollback()  # the action was refused: the request stays pending, undecided
        raise
    _recorded(row, "approved", principal, notes)
    db.commit()
    db.refresh(row)
    return row


def reject(approval_id: uuid.UUID, *, principal: Principal, notes: str | None = None):
    row = _decide(approval_id, "rejected", principal, notes)
    _recorded(row, "rejected", principal, notes)
    db.commit()
    db.refresh(row)
    return row


def cancel(approval_id: uuid.UUID, *, principal: Principal) -> DriftApproval:
    """Withdraw a pending request (its requester, or an admin)."""
    current = get(approval_id)
    if current.requested_by != principal.user_id and not principal.has_role("admin"):
        raise Forbidden("Only the requester or an admin may cancel a request.", code="forbidden")
    row = db.execute(
        update(DriftApproval)
        .where(DriftApproval.id == approval_id, DriftApproval.status == "pending")
        .values(status="cancelled", updated_at=func.now())
        .returning(DriftApproval)
    ).scalar_one_or_none()
    if row is None:
        raise Conflict(f"The request is {current.status} already.", code="already_decided")
    _recorded(row, "cancelled", principal, None)
    db.commit()
    db.refresh(row)
    return row


def _execute(row: DriftApproval, principal: Principal) -> None:
    params = row.action_params or {}
    if row.approval_type in TARGET_STATUS:
        lifecycle.transition(
            row.incident_id,
            TARGET_STATUS[row.approval_type],
            principal=principal,
            reason=params.get("reason") or row.request_reason,
            ticket_ref=params.get("ticket_ref"),
            resolution_type=params.get("resolution_type"),
            approval=row,
            commit=False,
        )
    elif row.approval_type == "extend_ttl":
        lifecycle.extend_ttl(
            row.incident_id,
            hours=row.ttl_extension_hours,
            principal=principal,
            reason=row.request_reason,
            approval=row,
            commit=False,
        )
    else:  # deployment_override: promotions pass the drift it covers, in the approver's name
        attestations.give(
            row.incident_id,
            principal=principal,
            reason=row.request_reason or "Approved deployment override",
            ticket_ref=params.get("ticket_ref"),
            approval_id=row.id,
            commit=False,
        )
        db.execute(
            update(DriftApproval)
            .where(DriftApproval.id == row.id)
            .values(executed_at=func.now(), executed_by=principal.user_id)
        )


def _recorded(row: DriftApproval, status: str, principal: Principal, notes: str | None) -> None:
    timeline.record(
        row.incident_id, "approval", actor_id=principal.user_id, reason=notes,
        details={"approval_id": str(row.id), "type": row.approval_type, "status": status},
    )  # fmt: skip
    audit.record(
        f"drift_approval.{status}",
        resource_type="drift_approval",
        resource_id=row.id,
        old={"status": "pending"},
        new={"status": status, "notes": notes, "type": row.approval_type},
    )
