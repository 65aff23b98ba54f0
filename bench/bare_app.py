"""The baseline of bench/job_poll.py: a bare Flask app that reads one background_jobs row by
primary key with plain SQLAlchemy, as the app role, and returns it as JSON.

No authentication, no flask-smorest, no schema: one transaction that sets the tenant (row-level
security shows nothing otherwise) and selects the row. The engine is made by the same
``init_engine`` the app uses, from the same DATABASE_URL, so the pool and its settings match.

    gunicorn "bench.bare_app:create_app()"   (DATABASE_URL and BENCH_TENANT_ID set)
"""

from __future__ import annotations

import os
import uuid

from flask import Flask, abort, jsonify
from sqlalchemy import select, text

from models.db import init_engine
from models.jobs import BackgroundJob
from services.config import Settings

_SET_TENANT = text("SELECT set_config('app.tenant_id', :tenant, true)")
_JOBS = BackgroundJob.__table__


def create_app() -> Flask:
    settings = Settings.from_env()
    engine = init_engine(settings.database_url)
    tenant = str(uuid.UUID(os.environ["BENCH_TENANT_ID"]))
    app = Flask(__name__)

    @app.get("/bare/jobs/<uuid:job_id>")
    def job(job_id: uuid.UUID):
        with engine.begin() as conn:
            conn.execute(_SET_TENANT, {"tenant": tenant})
            row = conn.execute(select(_JOBS).where(_JOBS.c.id == job_id)).mappings().one_or_none()
        if row is None:
            abort(404)
        return jsonify(dict(row))

    return app
