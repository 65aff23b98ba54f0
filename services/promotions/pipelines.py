"""Pipelines: an ordered route of stages (source -> target), each with its gates, approvals,
schedule window and policy flags. Writes are audited; a used pipeline is retired by
deactivating it (promotions keep pointing at it)."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import marshmallow as ma
from sqlalchemy import Select, exists, select

from models.db import db
from models.environments import Environment
from models.promotions import Pipeline, Promotion
from models.tenancy import User
from services import audit, entitlements
from services.errors import Conflict, InvalidInput
from services.rows import flush_unique, get_or_404, unchanged

#: The plan feature pipelines and deployments need.
FEATURE = "workflow_ci_cd"
RISK_LEVELS = ("low", "medium", "high")
APPROVAL_MODES = ("any", "all")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = ma.validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Use HH:MM (24 h).")


class GatesSchema(ma.Schema):
    require_clean_drift = ma.fields.Boolean(load_default=True)
    credentials_exist_in_target = ma.fields.Boolean(load_default=True)
    nodes_supported_in_target = ma.fields.Boolean(load_default=True)
    target_environment_healthy = ma.fields.Boolean(load_default=True)
    max_allowed_risk_level = ma.fields.String(
        load_default="high", validate=ma.validate.OneOf(RISK_LEVELS)
    )
    #: Seconds after the deploy within which each activated workflow's first executions
    #: (ingested) must succeed; None: no execution check.
    verify_executions_within_s = ma.fields.Integer(
        load_default=None, allow_none=True, validate=ma.validate.Range(min=10, max=3600)
    )


class ApprovalsSchema(ma.Schema):
    required = ma.fields.Boolean(load_default=False)
    approvers = ma.fields.List(ma.fields.UUID(), load_default=list)
    #: any: one of the approvers (1-of-N); all: every approver but the requester.
    mode = ma.fields.String(load_default="any", validate=ma.validate.OneOf(APPROVAL_MODES))


class WindowSchema(ma.Schema):
    timezone = ma.fields.String(load_default="UTC")
    weekdays = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(WEEKDAYS)), load_default=lambda: [*WEEKDAYS]
    )
    start = ma.fields.String(required=True, validate=_HHMM)
    end = ma.fields.String(required=True, validate=_HHMM)

    @ma.validates("timezone")
    def _zone(self, value: str, **_: Any) -> None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ma.ValidationError(f"Unknown time zone {value!r}.") from None


class PolicySchema(ma.Schema):
    allow_overwriting_hotfixes = ma.fields.Boolean(load_default=False)
    allow_force_promotion_on_conflicts = ma.fields.Boolean(load_default=False)
    allow_placeholder_credentials = ma.fields.Boolean(load_default=False)


class StageSchema(ma.Schema):
    name = ma.fields.String(load_default=None, allow_none=True)
    source_environment_id = ma.fields.UUID(required=True)
    target_environment_id = ma.fields.UUID(required=True)
    gates = ma.fields.Nested(GatesSchema, load_default=lambda: GatesSchema().load({}))
    approvals = ma.fields.Nested(ApprovalsSchema, load_default=lambda: ApprovalsSchema().load({}))
    schedule_window = ma.fields.Nested(WindowSchema, load_default=None, allow_none=True)
    policy = ma.fields.Nested(PolicySchema, load_default=lambda: PolicySchema().load({}))
    #: When a deployment of this stage completes (verified), open the next stage's promotion
    #: of the same workflows (services/promotions/advance.py). Off by default: the opened
    #: promotion supersedes queued ones of those workflows into the next target and notifies
    #: its approvers, which a pipeline made before the flag existed did not ask for.
    auto_advance = ma.fields.Boolean(load_default=False)

    @ma.validates_schema
    def _distinct(self, data: dict, **_: Any) -> None:
        # .get: a partial load (PATCH) may lack either; the service loads stages whole.
        source = data.get("source_environment_id")
        if source is not None and source == data.get("target_environment_id"):
            raise ma.ValidationError("A stage's source and target must differ.")


_STAGES = StageSchema(many=True)


def list_query(*, active: bool | None = None) -> Select:
    query = select(Pipeline).order_by(Pipeline.name, Pipeline.id)
    if active is not None:
        query = query.where(Pipeline.is_active.is_(active))
    return query


def get(pipeline_id: uuid.UUID) -> Pipeline:
    return get_or_404(Pipeline, pipeline_id, "No such pipeline.")


def stage(pipeline: Pipeline, index: int) -> dict[str, Any]:
    """A stage, loaded (defaults filled in)."""
    if not 0 <= index < len(pipeline.stages):
        raise InvalidInput(f"The pipeline has no stage {index}.", code="no_such_stage")
    return _STAGES.load([pipeline.stages[index]])[0]


def stage_for(pipeline: Pipeline, source_id: uuid.UUID, target_id: uuid.UUID) -> tuple[int, dict]:
    """The stage (index, config) of the pipeline that goes from ``source_id`` to ``target_id``."""
    for index in range(len(pipeline.stages)):
        found = stage(pipeline, index)
        if (found["source_environment_id"], found["target_environment_id"]) == (
            source_id,
            target_id,
        ):
            return index, found
    raise InvalidInput(
        "The pipeline has no stage from that source to that target.", code="no_such_stage"
    )


def _stages(raw: list[dict]) -> list[dict]:
    """Validate stages (environments and approvers in this tenant); their JSON form."""
    try:
        loaded = _STAGES.load(raw)
    except ma.ValidationError as error:
        raise InvalidInput(
            "The stages are not valid.", code="invalid_stages", errors=error.messages
        ) from None
    if not loaded:
        raise InvalidInput("A pipeline has at least one stage.", code="invalid_stages")
    env_ids = {s[k] for s in loaded for k in ("source_environment_id", "target_environment_id")}
    known = set(db.scalars(select(Environment.id).where(Environment.id.in_(env_ids))))
    if env_ids - known:
        raise InvalidInput(
            "A stage names an environment that does not exist.",
            code="invalid_stages",
            environment_ids=sorted(str(e) for e in env_ids - known),
        )
    for index, found in enumerate(loaded):
        following = loaded[index + 1] if index + 1 < len(loaded) else None
        if found["auto_advance"] and (
            following is None
            or following["source_environment_id"] != found["target_environment_id"]
        ):
            raise InvalidInput(
                f"Stage {index} advances automatically, so the next stage must start from "
                "its target.",
                code="invalid_stages",
                stage=index,
            )
    approvers = {a for s in loaded for a in s["approvals"]["approvers"]}
    users = set(db.scalars(select(User.id).where(User.id.in_(approvers)))) if approvers else set()
    if approvers - users:
        raise InvalidInput("An approver is not a user of this tenant.", code="invalid_stages")
    return _STAGES.dump(loaded)


def create(*, name: str, stages: list[dict], description: str | None = None, **_: Any) -> Pipeline:
    entitlements.require_feature(FEATURE, "Pipelines")
    pipeline = Pipeline(name=name, description=description, stages=_stages(stages))
    db.add(pipeline)
    flush_unique("A pipeline of that name exists already.")
    audit.record(
        "pipeline.created",
        resource_type="pipeline",
        resource_id=pipeline.id,
        new={"name": name, "stages": pipeline.stages},
    )
    db.commit()
    return pipeline


def update(pipeline_id: uuid.UUID, **fields: Any) -> Pipeline:
    pipeline = get(pipeline_id)
    old = {"name": pipeline.name, "stages": pipeline.stages, "is_active": pipeline.is_active}
    if "stages" in fields:
        pipeline.stages = _stages(fields.pop("stages"))
    for key in ("name", "description", "is_active"):
        if key in fields:
            setattr(pipeline, key, fields[key])
    if unchanged(pipeline):
        return pipeline
    flush_unique("A pipeline of that name exists already.")
    audit.record(
        "pipeline.updated",
        resource_type="pipeline",
        resource_id=pipeline.id,
        old=old,
        new={"name": pipeline.name, "stages": pipeline.stages, "is_active": pipeline.is_active},
    )
    db.commit()
    return pipeline


def set_active(pipeline_id: uuid.UUID, active: bool) -> Pipeline:
    return update(pipeline_id, is_active=active)


def delete(pipeline_id: uuid.UUID) -> None:
    pipeline = get(pipeline_id)
    if db.scalar(select(exists().where(Promotion.pipeline_id == pipeline.id))):
        raise Conflict(
            "Promotions used this pipeline: deactivate it instead.", code="pipeline_in_use"
        )
    db.delete(pipeline)
    audit.record(
        "pipeline.deleted",
        resource_type="pipeline",
        resource_id=pipeline_id,
        old={"name": pipeline.name},
    )
    db.commit()


def in_window(window: dict | None, moment: datetime) -> bool:
    """Whether ``moment`` falls in the stage's schedule window (no window: always)."""
    if not window:
        return True
    local = moment.astimezone(ZoneInfo(window["timezone"]))
    if WEEKDAYS[local.weekday()] not in window["weekdays"]:
        return False
    start, end = (time.fromisoformat(window[k]) for k in ("start", "end"))
    now = local.time().replace(tzinfo=None)
    # A window past midnight (22:00-02:00) wraps.
    return start <= now < end if start <= end else (now >= start or now < end)
