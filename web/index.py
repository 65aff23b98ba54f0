"""What answers at / and /api/v1 (links to the docs, the OpenAPI document and the probes),
and Swagger UI's assets, served from a pinned package so /docs works without internet."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, jsonify, send_from_directory

from web.api import PREFIX

bp = Blueprint("index", __name__)

#: Swagger UI's built files (swagger-ui-bundle.js, swagger-ui.css, ...), pinned in setup.cfg.
SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
SWAGGER_UI_URL = "/docs/assets/"
#: Seconds browsers may keep the assets: they change only with the package version.
ASSET_MAX_AGE_S = 24 * 3600

LINKS = {
    "docs": "/docs",
    "openapi": "/openapi.json",
    "api": PREFIX,
    "health": "/healthz",
    "ready": "/readyz",
}


@bp.get("/")
@bp.get(PREFIX)
def index():
    """Where to go from here."""
    return jsonify(name="n8n-ops", api_version="v1", links=LINKS)


@bp.get(f"{SWAGGER_UI_URL}<path:filename>")
def swagger_ui_asset(filename: str):
    """A Swagger UI asset, from the installed package."""
    return send_from_directory(SWAGGER_UI_DIST, filename, max_age=ASSET_MAX_AGE_S)
