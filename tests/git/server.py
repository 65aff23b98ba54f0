"""A smart-HTTP Git server on loopback that requires a token: git's own ``http-backend``
(CGI) behind a small WSGI app served by werkzeug (which decodes chunked request bodies, as
git sends large pushes).

Tokens map to "read" or "write": a missing or unknown token gets 401, a read token that
tries to push gets 403, like GitHub and GitLab; /moved/<name>.git redirects (301) like a
renamed repository. ``before_push`` runs before a push is served
(the ref advertisement, then the pack), so a test can land another writer's commit exactly
between our fetch and our push. Every request's Basic-auth username is recorded.
"""

from __future__ import annotations

import base64
import subprocess
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from werkzeug.serving import make_server

GIT = "git"
#: Tokens the ``git_server`` fixture accepts; planted so tests can show they never leak.
WRITE_TOKEN = f"ghp_WRITE{uuid.uuid4().hex}"
READ_TOKEN = f"ghp_READ{uuid.uuid4().hex}"


def git(*args: str, stdin: bytes | None = None, env: dict | None = None, check=True) -> str:
    """Run git as a test's "someone else": fixed identity, no user configuration."""
    full_env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": "/nonexistent",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_AUTHOR_NAME": "Someone Else",
        "GIT_AUTHOR_EMAIL": "someone@example.com",
        "GIT_COMMITTER_NAME": "Someone Else",
        "GIT_COMMITTER_EMAIL": "someone@example.com",
        "LANG": "C",
        **(env or {}),
    }
    result = subprocess.run(
        [GIT, *args], input=stdin, capture_output=True, env=full_env, check=check
    )
    return result.stdout.decode()


def commit_directly(repo: Path, branch: str, files: dict[str, str], message: str) -> str:
    """Another writer: commit ``files`` on ``branch`` of a bare repository with plumbing (no
    clone) and move the branch; returns the new commit id."""
    at = ["-C", str(repo)]
    parent = git(*at, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    parent = parent.strip()
    index = {"GIT_INDEX_FILE": str(repo / f"index-{uuid.uuid4().hex}")}
    try:
        git(*at, "read-tree", *([parent] if parent else ["--empty"]), env=index)
        for path, content in files.items():
            blob = git(*at, "hash-object", "-w", "--stdin", stdin=content.encode()).strip()
            git(*at, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
        tree = git(*at, "write-tree", env=index).strip()
        commit = git(*at, "commit-tree", tree, "-m", message, *(["-p", parent] if parent else []))
        git(*at, "update-ref", f"refs/heads/{branch}", commit.strip())
        return commit.strip()
    finally:
        Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)


class GitHttpServer:
    """Bare repositories under ``root``, served at http://127.0.0.1:<port>/<name>.git."""

    def __init__(self, root: Path, tokens: dict[str, str]) -> None:
        self.root = root
        self.tokens = dict(tokens)
        self.usernames: list[str] = []
        self.before_push: Callable[[str], None] | None = None
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.port = self._server.port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> GitHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def create_repository(self, name: str) -> Path:
        path = self.root / f"{name}.git"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
        git("-C", str(path), "config", "http.receivepack", "true")
        return path

    # -- WSGI --------------------------------------------------------------------------------

    def _app(self, environ, start_response):
        username, token = _basic(environ.get("HTTP_AUTHORIZATION", ""))
        if username is not None:
            self.usernames.append(username)
        access = self.tokens.get(token or "")
        if access is None:
            start_response(
                "401 Unauthorized",
                [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Type", "text/plain")],
            )
            return [b"Authentication required\n"]
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moved/"):  # a renamed repository: the host redirects
            query = environ.get("QUERY_STRING", "")
            location = path.removeprefix("/moved") + (f"?{query}" if query else "")
            start_response("301 Moved Permanently", [("Location", location)])
            return [b""]
        pushing = "git-receive-pack" in path or "service=git-receive-pack" in environ.get(
            "QUERY_STRING", ""
        )
        if pushing and access != "write":
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"Permission to push denied\n"]
        if pushing and self.before_push is not None:
            self.before_push(path)
        return self._backend(environ, start_response, username or "anonymous")

    def _backend(self, environ, start_response, user: str):
        # A GET has no body; reading a raw socket without a length would wait forever.
        chunked = environ.get("wsgi.input_terminated")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read() if chunked else environ["wsgi.input"].read(length)
        cgi = {
            "PATH": "/usr/bin:/bin:/usr/local/bin",
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": environ.get("REMOTE_ADDR", "127.0.0.1"),
        }
        for header, variable in (
            ("HTTP_CONTENT_ENCODING", "HTTP_CONTENT_ENCODING"),
            ("HTTP_GIT_PROTOCOL", "GIT_PROTOCOL"),
        ):
            if header in environ:
                cgi[variable] = environ[header]
        result = subprocess.run(
            [GIT, "http-backend"], input=body, env=cgi, capture_output=True, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status, headers = "200 OK", []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "status":
                status = value
            elif name:
                headers.append((name, value))
        start_response(status, headers)
        return [payload]


def _basic(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    username, _, password = base64.b64decode(encoded).decode().partition(":")
    # Gitea's convention sends the token as the username.
    if password == "x-oauth-basic":
        return username, username
    return username, password
