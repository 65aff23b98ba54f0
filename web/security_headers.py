"""Headers every response carries so a browser neither sniffs, frames, leaks the URL onward,
nor caches what must stay secret; HSTS where the public address is https."""

from __future__ import annotations

from functools import wraps

from flask import Flask, current_app, g

#: On every response.
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def init_app(app: Flask) -> None:
    app.after_request(_add)


def no_store(view):
    """Mark a view whose response carries a secret (a token shown once): never cached."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        g.no_store = True
        return view(*args, **kwargs)

    return wrapper


def _add(response):
    response.headers.update(ALWAYS)
    if g.get("no_store"):
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    settings = current_app.config["SETTINGS"]
    if settings.public_url.startswith("https://") and settings.hsts_max_age_s > 0:
        response.headers["Strict-Transport-Security"] = (
            f"max-age={settings.hsts_max_age_s}; includeSubDomains"
        )
    return response
