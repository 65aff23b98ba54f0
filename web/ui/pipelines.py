"""Pipelines: the list, one pipeline's stages (gates, approvals, schedule window, policy
flags), and for admins the form that creates or edits one. The form is the API's JSON in
dotted field names, validated by the API's schema; its errors are shown next to the fields."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import render_template, request

from models.db import db
from services import environments, users
from services.errors import Conflict, InvalidInput
from services.promotions import lifecycle, pipelines
from web.api.pipelines import PipelineSchema, raw_stages
from web.auth import requires
from web.ui.base import done, listing, page_blueprint

bp = page_blueprint("ui_pipelines", __name__)

#: Fields that take several values (a multiple select, a group of checkboxes).
LIST_FIELDS = frozenset({"approvers", "weekdays"})
#: Promotions shown on a pipeline's page.
RECENT_PROMOTIONS = 10


def posted() -> dict[str, Any]:
    """The posted form as the API's JSON: dotted names nest (``stages.0.gates.x``), numeric
    parts index lists, empty fields count as left out, and the last of repeated values wins
    (a checkbox follows its hidden "false"), except for LIST_FIELDS."""
    data: dict[str, Any] = {}
    for key in request.form:
        values = [v for v in request.form.getlist(key) if v != ""]
        if key == "csrf_token" or not values:
            continue
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = values if leaf in LIST_FIELDS else values[-1]
    return _as_lists(data)


def _as_lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {key: _as_lists(value) for key, value in node.items()}
    if node and all(key.isdigit() for key in node):
        return [node[key] for key in sorted(node, key=int)]
    return node


def _pipeline_form() -> dict[str, Any]:
    """The posted pipeline: rows naming no environment are the form's spare ones, and a
    window with neither start nor end is no window."""
    data = posted()
    stages = [
        s
        for s in data.get("stages", [])
        if isinstance(s, dict)
        and (s.get("source_environment_id") or s.get("target_environment_id"))
    ]
    for stage in stages:
        window = stage.get("schedule_window") or {}
        if not (window.get("start") or window.get("end")):
            stage.pop("schedule_window", None)
    return {**data, "stages": stages}


def field_errors(messages: Any, prefix: str = "") -> dict[str, str]:
    """Marshmallow's nested messages by the form's dotted field names."""
    if isinstance(messages, dict):
        found: dict[str, str] = {}
        for key, value in messages.items():
            found |= field_errors(value, f"{prefix}{key}.")
        return found
    words = messages if isinstance(messages, list) else [messages]
    return {prefix.rstrip("."): " ".join(map(str, words))}


def _blank_stage() -> dict[str, Any]:
    return pipelines.StageSchema().dump(
        {
            "gates": pipelines.GatesSchema().load({}),
            "approvals": pipelines.ApprovalsSchema().load({}),
            "policy": pipelines.PolicySchema().load({}),
        }
    )


def _form_page(values: dict[str, Any], pipeline=None, *, errors=None, message=None):
    return render_template(
        "pipeline_form.html",
        pipeline=pipeline,
        values=values,
        stages=[*values.get("stages", []), _blank_stage()],
        errors=errors or {},
        message=message,
        environments=db.scalars(environments.list_query()).all(),
        users=db.scalars(users.list_users_query(is_active=True)).all(),
        risk_levels=pipelines.RISK_LEVELS,
        modes=pipelines.APPROVAL_MODES,
        weekdays=pipelines.WEEKDAYS,
    )


def _save(pipeline=None):
    values = _pipeline_form()
    try:
        data = raw_stages(PipelineSchema().load(values))
        if pipeline is None:
            saved = pipelines.create(**data)
        else:
            saved = pipelines.update(pipeline.id, **data)
    except ma.ValidationError as error:
        errors = field_errors(error.messages)
        message = "The request is invalid; see the fields."
        return _form_page(values, pipeline, errors=errors, message=message), 422
    except (InvalidInput, Conflict) as error:
        errors = field_errors(error.details.get("errors") or {}, "stages.")
        return _form_page(values, pipeline, errors=errors, message=error.message), error.status
    return done(f"Saved {saved.name}.", "ui_pipelines.detail", pipeline_id=saved.id)


@bp.get("/pipelines")
@requires("pipelines:read")
def pipeline_list():
    """Pipelines."""
    return render_template(
        "pipelines.html",
        pipelines=listing(pipelines.list_query()),
        names=environment_names(),
    )


def environment_names() -> dict:
    """Each environment's name by id (text, as stages hold it; a tenant has a handful)."""
    return {str(env.id): env.name for env in db.scalars(environments.list_query())}


def emails() -> dict:
    """Each user's email by id, for who requested, approved or may approve."""
    return {str(user.id): user.email for user in db.scalars(users.list_users_query())}


@bp.get("/pipelines/new")
@requires("pipelines:write")
def new():
    """The form to create a pipeline."""
    return _form_page({"stages": []})


@bp.post("/pipelines")
@requires("pipelines:write")
def create():
    """Create a pipeline."""
    return _save()


@bp.get("/pipelines/<uuid:pipeline_id>")
@requires("pipelines:read")
def detail(pipeline_id):
    """One pipeline."""
    pipeline = pipelines.get(pipeline_id)
    recent = lifecycle.list_query(pipeline_id=pipeline_id)
    return render_template(
        "pipeline.html",
        pipeline=pipeline,
        stages=[pipelines.stage(pipeline, i) for i in range(len(pipeline.stages))],
        names=environment_names(),
        emails=emails(),
        promotions=listing(recent, limit=RECENT_PROMOTIONS),
    )


@bp.get("/pipelines/<uuid:pipeline_id>/edit")
@requires("pipelines:write")
def edit(pipeline_id):
    """The form to change a pipeline."""
    pipeline = pipelines.get(pipeline_id)
    values = {"name": pipeline.name, "description": pipeline.description}
    return _form_page({**values, "stages": pipeline.stages}, pipeline)


@bp.post("/pipelines/<uuid:pipeline_id>")
@requires("pipelines:write")
def update(pipeline_id):
    """Change a pipeline's name, description or stages."""
    return _save(pipelines.get(pipeline_id))


@bp.post("/pipelines/<uuid:pipeline_id>/activate")
@requires("pipelines:write")
def activate(pipeline_id):
    """Activate a pipeline."""
    pipelines.set_active(pipeline_id, True)
    return done("Active: promotions may follow it.", "ui_pipelines.detail", pipeline_id=pipeline_id)


@bp.post("/pipelines/<uuid:pipeline_id>/deactivate")
@requires("pipelines:write")
def deactivate(pipeline_id):
    """Deactivate a pipeline."""
    pipelines.set_active(pipeline_id, False)
    return done(
        "Inactive: no new promotion follows it.", "ui_pipelines.detail", pipeline_id=pipeline_id
    )


@bp.post("/pipelines/<uuid:pipeline_id>/delete")
@requires("pipelines:write")
def delete(pipeline_id):
    """Delete a pipeline no promotion used."""
    pipelines.delete(pipeline_id)
    return done("Pipeline deleted.", "ui_pipelines.pipeline_list")
