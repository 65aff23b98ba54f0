"""The baseline of bench/job_poll.py: the endpoint a developer would write with no platform
around it. Flask + flask-smorest + marshmallow + SQLAlchemy, one primary-key select of the job
row, SQLAlchemy's default pool (no pre-ping), no authentication, no tenant setting: it
connects as a role that row-level security does not apply to (BENCH_BARE_DATABASE_URL, the
benchmark's superuser on the same database), as a single-tenant app would.

    gunicorn --config gunicorn.conf.py "bench.bare_app:create_app()"
"""

from __future__ import annotations

import os
import uuid

import marshmallow as ma
from flask import Flask
from flask_smorest import Api, Blueprint, abort
from sqlalchemy import create_engine, select

from models.jobs import BackgroundJob
from services.config import normalize_database_url

_JOBS = BackgroundJob.__table__


class JobSchema(ma.Schema):
    id = ma.fields.UUID()
    job_type = ma.fields.String()
    status = ma.fields.String()
    params = ma.fields.Dict()
    progress = ma.fields.Dict(allow_none=True)
    result = ma.fields.Dict(allow_none=True)
    error = ma.fields.Dict(allow_none=True)
    created_at = ma.fields.DateTime()
    started_at = ma.fields.DateTime(allow_none=True)
    completed_at = ma.fields.DateTime(allow_none=True)


def create_app() -> Flask:
    engine = create_engine(normalize_database_url(os.environ["BENCH_BARE_DATABASE_URL"]))
    app = Flask(__name__)
    app.config.update(API_TITLE="bare", API_VERSION="v1", OPENAPI_VERSION="3.0.3")
    api = Api(app)
    blp = Blueprint("bare", __name__, url_prefix="/bare")

    @blp.get("/jobs/<uuid:job_id>")
    @blp.response(200, JobSchema)
    def job(job_id: uuid.UUID):
        """One job by id."""
        with engine.connect() as conn:
            row = conn.execute(select(_JOBS).where(_JOBS.c.id == job_id)).mappings().first()
        if row is None:
            abort(404)
        return row

    api.register_blueprint(blp)
    return app
