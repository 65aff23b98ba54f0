"""The REST API under /api/v1: one blueprint per resource."""

from __future__ import annotations

from flask_smorest import Api

from web.api import jobs, me, tokens, users

PREFIX = "/api/v1"

BLUEPRINTS = (me.blp, users.blp, tokens.blp, jobs.blp)


def register(api: Api) -> None:
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint, url_prefix=PREFIX + blueprint.url_prefix)
