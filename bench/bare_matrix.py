"""The baseline of bench/workflow_matrix.py: a bare Flask app that reads one page of the
workflow matrix with the same two statements as services/workflow_matrix.py, with plain
SQLAlchemy, as the app role, as JSON.

No authentication, no flask-smorest, no schema: one transaction that sets the tenant (the
statements are tenant tables under row-level security) and runs them. The engine is made by
the same ``init_engine`` the app uses, from the same DATABASE_URL.

    gunicorn "bench.bare_matrix:create_app()"   (DATABASE_URL and BENCH_TENANT_ID set)
"""

from __future__ import annotations

import os
import uuid

from flask import Flask, jsonify, request
from sqlalchemy import text

from models.db import init_engine
from services.config import Settings
from services.workflow_matrix import _PAGE, _PAGE_CELLS, _PAGE_FILTERED

_SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant, true)")
_ENVIRONMENTS = text("SELECT id FROM environments WHERE tenant_id = :tenant")


def create_app() -> Flask:
    settings = Settings.from_env()
    engine = init_engine(settings.database_url)
    tenant = str(uuid.UUID(os.environ["BENCH_TENANT_ID"]))
    app = Flask(__name__)

    @app.get("/bare/matrix")
    def matrix():
        limit = int(request.args.get("limit", 50))
        page = int(request.args.get("page", 1))
        states = request.args.getlist("state")
        with engine.begin() as conn:
            conn.execute(_SET_TENANT, {"tenant": tenant})
            envs = request.args.getlist("environment_id") or list(
                conn.scalars(_ENVIRONMENTS, {"tenant": tenant})
            )
            params = {"tenant": tenant, "envs": envs}
            page_params = {"tenant": tenant, "name": None, "limit": limit + 1,
                           "offset": (page - 1) * limit}  # fmt: skip
            if states:
                found = conn.execute(
                    _PAGE_FILTERED, {**page_params, **params, "states": states}
                ).all()
            else:
                found = conn.execute(_PAGE, page_params).all()
            ids = [row.id for row in found[:limit]]
            cells = conn.execute(_PAGE_CELLS, {**params, "ids": ids}).mappings().all()
        rows = {i: [] for i in ids}
        for cell in cells:
            rows[cell["canonical_id"]].append(dict(cell))
        return jsonify({"rows": [{"id": i, "cells": c} for i, c in rows.items()]})

    return app
