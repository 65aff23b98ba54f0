"""Drift: incidents with filters, an incident's page (lifecycle steps its status allows, the
TTL and its countdown, approvals, overrides and attestations, revert / keep hotfix, timeline,
artifacts)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import render_template, request

from models.drift import APPROVAL_TYPES, INCIDENT_STATUSES, RESOLUTION_TYPES, SEVERITIES
from services import environments, workflow_matrix
from services.drift import (
    approvals,
    attestations,
    incidents,
    lifecycle,
    policies,
    resolution,
    timeline,
)
from web.api.drift_approvals import ApprovalDecisionSchema, ApprovalSchema
from web.api.drift_incidents import (
    ExtendSchema,
    IncidentListArgs,
    OverrideCreateSchema,
    TransitionSchema,
)
from web.auth import current_principal, requires
from web.pagination import paginate
from web.ui.base import done, form, listing, page_blueprint

bp = page_blueprint("ui_drift", __name__)

#: Each lifecycle step: its path, the status it leads to, the permission, the button.
STEPS = {
    "acknowledge": ("acknowledged", "drift:acknowledge", "Acknowledge"),
    "stabilize": ("stabilized", "drift:acknowledge", "Mark stabilized"),
    "reconcile": ("reconciled", "drift:manage", "Reconcile"),
    "close": ("closed", "drift:manage", "Close"),
}
#: The step that leads to each status.
STEP_TO = {to: step for step, (to, _, _) in STEPS.items()}
#: Resolutions started from the page: path -> (service kind, button).
RESOLUTIONS = {"revert": ("revert", "Revert to Git"), "keep-hotfix": ("keep_hotfix", "Keep hotfix")}
#: Form fields of an approval request, and those that go into the action it performs.
APPROVAL_FIELDS = ("approval_type", "request_reason", "ttl_extension_hours")
ACTION_FIELDS = ("ticket_ref", "resolution_type")


@bp.get("/incidents")
@requires("drift:read")
def incident_list():
    """Drift incidents."""
    args = {k: v for k, v in request.args.items() if v and k != "page"}
    filters = IncidentListArgs().load(args)["filters"]
    envs = workflow_matrix.environments()
    return render_template(
        "incidents.html",
        incidents=listing(incidents.list_query(filters)),
        args=args,
        environments=envs,
        env_names={e["id"]: e["name"] for e in envs},
        statuses=INCIDENT_STATUSES,
        severities=SEVERITIES,
    )


@bp.get("/incidents/<uuid:incident_id>")
@requires("drift:read")
def incident_detail(incident_id):
    """One incident."""
    incident = incidents.get(incident_id)
    policy = policies.effective(incident.environment_id)
    steps = [
        (STEP_TO[to], *STEPS[STEP_TO[to]], lifecycle.APPROVAL_FOR.get(to))
        for to in lifecycle.TRANSITIONS[incident.status]
    ]
    return render_template(
        "incident.html",
        incident=incident,
        environment=next(
            (e for e in workflow_matrix.environments() if e["id"] == incident.environment_id),
            None,
        ),
        steps=steps,
        needs_approval={kind: policy.requires_approval(kind) for kind in APPROVAL_TYPES},
        resolutions=RESOLUTIONS,
        resolution_types=RESOLUTION_TYPES,
        approval_types=APPROVAL_TYPES,
        # Its newest requests, unpaged: ?page pages the timeline.
        approvals=paginate(approvals.list_query(incident_id=incident.id), page=1, limit=50)[0],
        timeline=listing(timeline.list_query(incident.id)),
        artifacts=resolution.artifacts(incident.id),
        overrides=attestations.for_incident(incident.id),
        handling_mode=environments.get(incident.environment_id).drift_handling_mode,
        max_valid_hours=attestations.MAX_VALID_HOURS,
        now=datetime.now(UTC),
        remaining=_remaining(incident.expires_at),
        me=current_principal().user_id,
    )


def _remaining(expires_at: datetime | None) -> dict | None:
    """The TTL as the page first shows it: seconds left (negative once passed) and in words."""
    if expires_at is None:
        return None
    seconds = int((expires_at - datetime.now(UTC)).total_seconds())
    return {"seconds": seconds, "text": ttl_text(seconds)}


def ttl_text(seconds: int) -> str:
    """'2 d 3 h left', '45 min left', 'expired 3 h ago' (the countdown script says the same)."""
    left = abs(seconds)
    days, hours, minutes = left // 86400, left % 86400 // 3600, left % 3600 // 60
    parts = [f"{days} d"] if days else []
    if hours or days:
        parts.append(f"{hours} h")
    if not days:
        parts.append(f"{minutes} min")
    span = " ".join(parts)
    return f"{span} left" if seconds > 0 else f"expired {span} ago"


def _post(rule: str, permission: str, view) -> None:
    """Register ``view`` (one of several made by a factory, named and documented by it)."""
    bp.add_url_rule(rule, view_func=requires(permission)(view), methods=["POST"])


def _step_view(step: str):
    to, _, label = STEPS[step]

    def view(incident_id):
        lifecycle.transition(
            incident_id, to, principal=current_principal(), **form(TransitionSchema())
        )
        return done(f"{label}: now {to}.", "ui_drift.incident_detail", incident_id=incident_id)

    view.__name__, view.__doc__ = f"incident_{step}", f"{label}."
    return view


for _step, (_, _permission, _) in STEPS.items():
    _post(f"/incidents/<uuid:incident_id>/{_step}", _permission, _step_view(_step))


@bp.post("/incidents/<uuid:incident_id>/extend-ttl")
@requires("drift:manage")
def extend_ttl(incident_id):
    """Push the expiry further."""
    lifecycle.extend_ttl(incident_id, principal=current_principal(), **form(ExtendSchema()))
    return done("TTL extended.", "ui_drift.incident_detail", incident_id=incident_id)


@bp.post("/incidents/<uuid:incident_id>/overrides")
@requires("drift:override")
def override_give(incident_id):
    """Let promotions pass this drift: an override, or with a ticket an attestation."""
    row = attestations.give(
        incident_id, principal=current_principal(), **form(OverrideCreateSchema())
    )
    return done(
        f"{row.kind.capitalize()} recorded.", "ui_drift.incident_detail", incident_id=incident_id
    )


@bp.post("/incidents/<uuid:incident_id>/overrides/<uuid:override_id>/revoke")
@requires("drift:override")
def override_revoke(incident_id, override_id):
    """Withdraw an override or attestation: promotions are blocked again."""
    incidents.get(incident_id)
    row = attestations.revoke(override_id, principal=current_principal())
    return done(
        f"{row.kind.capitalize()} withdrawn.",
        "ui_drift.incident_detail",
        incident_id=row.incident_id,
    )


def _resolution_view(path: str):
    kind, label = RESOLUTIONS[path]

    def view(incident_id):
        job = resolution.start(incident_id, kind, principal=current_principal())
        return done(f"{label}: started.", "ui_jobs.job_detail", job_id=job.id)

    view.__name__, view.__doc__ = f"incident_{kind}", f"{label}: a job, whose page follows it."
    return view


for _path in RESOLUTIONS:
    _post(f"/incidents/<uuid:incident_id>/{_path}", "drift:resolve", _resolution_view(_path))


@bp.post("/incidents/<uuid:incident_id>/approvals")
@requires("drift:request_approval")
def approval_request(incident_id):
    """Ask for an approval (someone else decides)."""
    fields = {k: v for k, v in request.form.items() if v}
    data = ApprovalSchema().load(
        {
            "incident_id": str(incident_id),
            **{k: fields[k] for k in APPROVAL_FIELDS if k in fields},
            "action_params": TransitionSchema(only=ACTION_FIELDS).load(
                {k: fields[k] for k in ACTION_FIELDS if k in fields}
            ),
        }
    )
    approvals.request(
        incident_id,
        data["approval_type"],
        principal=current_principal(),
        reason=data.get("request_reason"),
        ttl_extension_hours=data.get("ttl_extension_hours"),
        action_params=data["action_params"],
    )
    return done("Approval requested.", "ui_drift.incident_detail", incident_id=incident_id)


def _decision_view(decision: str):
    decide = getattr(approvals, decision)

    def view(approval_id):
        row = decide(approval_id, principal=current_principal(), **form(ApprovalDecisionSchema()))
        return done(
            f"Request {row.status}.", "ui_drift.incident_detail", incident_id=row.incident_id
        )

    view.__name__, view.__doc__ = f"approval_{decision}", f"{decision.capitalize()} a request."
    return view


for _decision in ("approve", "reject"):
    _post(
        f"/drift-approvals/<uuid:approval_id>/{_decision}",
        "drift:approve",
        _decision_view(_decision),
    )


@bp.post("/drift-approvals/<uuid:approval_id>/cancel")
@requires("drift:request_approval")
def approval_cancel(approval_id):
    """Withdraw a pending request."""
    row = approvals.cancel(approval_id, principal=current_principal())
    return done("Request withdrawn.", "ui_drift.incident_detail", incident_id=row.incident_id)
