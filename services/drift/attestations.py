"""Overrides and attestations: why promotions may pass an environment's drift block (spec
Decision 1). In manual_override an admin's override (who, why) is enough; require_attestation
needs an attestation, which also names a ticket. Each covers the drift it was given for (the
incident's fingerprint then): drift that changes afterwards is blocked again. An approved
``deployment_override`` request gives one too, in the approver's name.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, or_, select, update

from models.db import db
from models.drift import DriftAttestation, DriftIncident
from models.environments import Environment
from services import audit
from services.drift import incidents, timeline
from services.errors import Conflict, InvalidInput, NotFound
from services.identity import Principal

#: Longest an override may be given for, in hours (30 days); None: until the drift changes.
MAX_VALID_HOURS = 24 * 30
#: The kinds that let a promotion pass, per drift handling mode.
ACCEPTED_KINDS = {
    "manual_override": ("override", "attestation"),
    "require_attestation": ("attestation",),
}


def give(
    incident_id: uuid.UUID,
    *,
    principal: Principal,
    reason: str,
    ticket_ref: str | None = None,
    valid_hours: int | None = None,
    approval_id: uuid.UUID | None = None,
    commit: bool = True,
) -> DriftAttestation:
    """Record an admin's override (or, with a ticket, an attestation) for an open incident."""
    incident = incidents.get(incident_id)
    if incident.status == "closed":
        raise Conflict("The incident is closed: nothing to override.", code="incident_closed")
    env = db.get(Environment, incident.environment_id)
    if env.drift_handling_mode == "require_attestation" and not ticket_ref:
        raise InvalidInput(
            f"{env.name} requires an attestation: give the reason and a ticket reference.",
            code="ticket_required",
        )
    if valid_hours is not None and not 0 < valid_hours <= MAX_VALID_HOURS:
        raise InvalidInput(
            f"valid_hours is between 1 and {MAX_VALID_HOURS}.", code="invalid_valid_hours"
        )
    row = DriftAttestation(
        incident_id=incident.id,
        environment_id=incident.environment_id,
        kind="attestation" if ticket_ref else "override",
        attested_by=principal.user_id,
        reason=reason,
        ticket_ref=ticket_ref,
        covers_fingerprint=incident.drift_fingerprint,
        approval_id=approval_id,
        expires_at=(func.now() + timedelta(hours=valid_hours)) if valid_hours else None,
    )
    db.add(row)
    db.flush()
    details = {"attestation_id": str(row.id), "kind": row.kind, "valid_hours": valid_hours}
    timeline.record(
        incident.id,
        "override",
        actor_id=principal.user_id,
        reason=reason,
        ticket_ref=ticket_ref,
        details=details,
    )
    audit.record(
        f"drift_incident.{row.kind}",
        resource_type="drift_incident",
        resource_id=incident.id,
        new={**details, "reason": reason, "ticket_ref": ticket_ref},
    )
    if commit:
        db.commit()
    db.refresh(row)
    return row


def revoke(attestation_id: uuid.UUID, *, principal: Principal) -> DriftAttestation:
    """Withdraw an override or attestation; promotions are blocked again (if drift is)."""
    revoked = db.execute(
        update(DriftAttestation)
        .where(DriftAttestation.id == attestation_id, DriftAttestation.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_by=principal.user_id, updated_at=func.now())
        .returning(DriftAttestation.id)
    ).scalar_one_or_none()
    row = db.get(DriftAttestation, attestation_id)
    if row is None:
        raise NotFound("No such override.")
    if revoked is None:
        raise Conflict("The override is revoked already.", code="already_revoked")
    timeline.record(
        row.incident_id, "override", actor_id=principal.user_id,
        details={"attestation_id": str(row.id), "revoked": True},
    )  # fmt: skip
    audit.record(
        "drift_incident.override_revoked",
        resource_type="drift_incident",
        resource_id=row.incident_id,
        old={"attestation_id": str(row.id), "kind": row.kind},
    )
    db.commit()
    db.refresh(row)
    return row


def for_incident(incident_id: uuid.UUID) -> list[DriftAttestation]:
    """The incident's overrides and attestations, newest first (revoked ones included)."""
    incidents.get(incident_id)
    return list(
        db.scalars(
            select(DriftAttestation)
            .where(DriftAttestation.incident_id == incident_id)
            .order_by(DriftAttestation.created_at.desc(), DriftAttestation.id)
        )
    )


def in_force(incident: DriftIncident, mode: str) -> list[DriftAttestation]:
    """The incident's unrevoked, unexpired overrides of a kind ``mode`` accepts, newest
    first (whether each still covers the drift is the caller's comparison)."""
    kinds = ACCEPTED_KINDS.get(mode, ())
    if not kinds:
        return []
    return list(
        db.scalars(
            select(DriftAttestation)
            .where(
                DriftAttestation.incident_id == incident.id,
                DriftAttestation.kind.in_(kinds),
                DriftAttestation.revoked_at.is_(None),
                or_(
                    DriftAttestation.expires_at.is_(None),
                    DriftAttestation.expires_at > func.now(),
                ),
            )
            .order_by(DriftAttestation.created_at.desc(), DriftAttestation.id)
        )
    )


def as_dict(row: DriftAttestation) -> dict:
    return {
        "id": str(row.id),
        "kind": row.kind,
        "attested_by": str(row.attested_by) if row.attested_by else None,
        "reason": row.reason,
        "ticket_ref": row.ticket_ref,
        "approval_id": str(row.approval_id) if row.approval_id else None,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }
