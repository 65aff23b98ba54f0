"""Credential mappings (tenant settings): logical credentials, how each environment maps
them to its own n8n credential, and suggestions from the environment's inventory."""

from __future__ import annotations

from flask import render_template, request

from models.db import db
from services import environments
from services.promotions import credentials
from web.api.credential_mappings import (
    CredentialMappingArgs,
    CredentialMappingSchema,
    LogicalCredentialSchema,
)
from web.auth import requires
from web.ui.base import done, form, listing, page_blueprint

bp = page_blueprint("ui_credential_mappings", __name__)

_MAPPING_UPDATE = CredentialMappingSchema(
    partial=True, only=("n8n_credential_type", "n8n_credential_name")
)


def _back(message: str):
    """Back to the page of the environment the form was on (?environment_id)."""
    env = request.args.get("environment_id")
    return done(
        message, "ui_credential_mappings.mapping_list", **({"environment_id": env} if env else {})
    )


@bp.get("/credential-mappings")
@requires("credential_mappings:read")
def mapping_list():
    """Credential mappings of one environment."""
    args = {k: v for k, v in request.args.items() if v and k == "environment_id"}
    chosen = CredentialMappingArgs().load(args)["environment_id"]
    envs = db.scalars(environments.list_query()).all()
    env = environments.get(chosen) if chosen else (envs[0] if envs else None)
    mappings, suggestions = {}, {}
    if env is not None:
        rows = db.scalars(credentials.list_mappings(environment_id=env.id))
        mappings = {row.logical_credential_id: row for row in rows}
        suggestions = {s["logical_credential_id"]: s for s in credentials.suggestions(env.id)}
    return render_template(
        "credential_mappings.html",
        env=env,
        environments=envs,
        logical=listing(credentials.list_logical()),
        mappings=mappings,
        suggestions=suggestions,
    )


@bp.post("/logical-credentials")
@requires("credential_mappings:write")
def logical_create():
    """Add a logical credential."""
    row = credentials.create_logical(**form(LogicalCredentialSchema()))
    return _back(f"Added {row.credential_type} “{row.name}”.")


@bp.post("/logical-credentials/<uuid:logical_id>")
@requires("credential_mappings:write")
def logical_update(logical_id):
    """Rename a logical credential."""
    row = credentials.update_logical(logical_id, **form(LogicalCredentialSchema(partial=True)))
    return _back(f"Saved {row.credential_type} “{row.name}”.")


@bp.post("/logical-credentials/<uuid:logical_id>/delete")
@requires("credential_mappings:write")
def logical_delete(logical_id):
    """Delete a logical credential and its mappings."""
    credentials.delete_logical(logical_id)
    return _back("Logical credential deleted with its mappings.")


@bp.post("/credential-mappings")
@requires("credential_mappings:write")
def mapping_create():
    """Map a logical credential to an environment's credential."""
    credentials.create_mapping(**form(CredentialMappingSchema()))
    return _back("Mapped.")


@bp.post("/credential-mappings/<uuid:mapping_id>")
@requires("credential_mappings:write")
def mapping_update(mapping_id):
    """Point a mapping at another credential."""
    credentials.update_mapping(mapping_id, **form(_MAPPING_UPDATE))
    return _back("Mapping saved.")


@bp.post("/credential-mappings/<uuid:mapping_id>/delete")
@requires("credential_mappings:write")
def mapping_delete(mapping_id):
    """Delete a mapping."""
    credentials.delete_mapping(mapping_id)
    return _back("Mapping deleted.")
