"""A remote over smart HTTP with a token: credentials by provider, races with other writers,
every way the remote can fail, the per-repository lock, and the address policy."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import threading
import time

import psycopg
import pytest

from models.db import get_engine
from services import config, git
from services.git import command, lock, repository, transport
from services.git.target import GitTarget
from services.git.transport import Credentials, parse_remote_url
from tests.git.conftest import new_remote
from tests.git.server import READ_TOKEN, WRITE_TOKEN, commit_directly


def _commit(target, changes, **options):
    options.setdefault("message", "Change")
    options.setdefault("operation", "test")
    return git.commit_changes(target, changes=changes, **options)


def _at(target: GitTarget, url: str, **credentials) -> GitTarget:
    remote = parse_remote_url(url, allow_http=True)
    return dataclasses.replace(target, remote=remote, credentials=Credentials(**credentials))


@pytest.fixture
def settings_override(settings):
    """Change the process's settings for one test; restored afterwards."""

    def override(**values):
        config.configure(settings.with_overrides(**values))

    yield override
    config.configure(settings)


# --- writers racing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        "info/refs",  # before the server advertises its refs: git itself refuses the push
        "/git-receive-pack",  # after: the server refuses to move the branch ("remote rejected")
    ],
)
def test_a_push_that_loses_a_race_is_reapplied_on_the_new_head(remote, git_server, when):
    _commit(remote.target, {"dev/a.json": b"1"})
    raced = []

    def someone_pushes_first(path):
        if not raced and when in path:
            raced.append(commit_directly(remote.path, "main", {"dev/b.json": "theirs"}, "human"))

    git_server.before_push = someone_pushes_first
    result = _commit(remote.target, {"dev/c.json": b"mine"})
    assert result.attempts == 2 and result.parent == raced[0]
    files = {f.path: f.content for f in git.list_files(remote.target).files}
    assert files == {"dev/a.json": b"1", "dev/b.json": b"theirs", "dev/c.json": b"mine"}


def test_a_race_on_the_same_file_is_a_conflict_and_theirs_stays(remote, git_server):
    _commit(remote.target, {"dev/a.json": b"1"})
    theirs = []

    def someone_edits_the_same_file(path):
        if not theirs:
            theirs.append(commit_directly(remote.path, "main", {"dev/a.json": "theirs"}, "hotfix"))

    git_server.before_push = someone_edits_the_same_file
    with pytest.raises(git.GitConflict) as caught:
        _commit(remote.target, {"dev/a.json": b"mine"})
    (conflict,) = caught.value.conflicts
    assert conflict.path == "dev/a.json" and conflict.expected != conflict.actual
    assert git.head(remote.target) == theirs[0]
    assert git.read_file(remote.target, "dev/a.json").content == b"theirs"


def test_a_branch_that_never_stops_moving_gives_up(remote, git_server, monkeypatch):
    monkeypatch.setattr(repository, "RETRY_DELAY_S", 0)
    count = iter(range(100))

    def always_someone_first(path):
        if "info/refs" in path or "receive-pack" in path:
            commit_directly(remote.path, "main", {f"other/{next(count)}": "x"}, "busy")

    git_server.before_push = always_someone_first
    with pytest.raises(git.GitBusy):
        _commit(remote.target, {"dev/a.json": b"mine"})


def test_work_from_another_host_is_seen_and_built_upon(remote, settings_override, tmp_path):
    """Each host has its own clone cache; every operation starts from the remote's head."""
    first = _commit(remote.target, {"dev/a.json": b"host 1"})
    settings_override(data_dir=str(tmp_path / "host-2"))
    assert git.read_file(remote.target, "dev/a.json").content == b"host 1"
    second = _commit(remote.target, {"dev/b.json": b"host 2"})
    assert second.parent == first.sha


def test_commits_by_people_on_the_remote_are_read(remote):
    human = commit_directly(remote.path, "main", {"dev/by-hand.json": "{}"}, "edited on GitHub")
    assert git.head(remote.target) == human
    (commit,) = git.history(remote.target)
    assert (commit.author_name, commit.subject, commit.operation) == (
        "Someone Else",
        "edited on GitHub",
        None,
    )
    assert _commit(remote.target, {"dev/a.json": b"1"}).parent == human


# --- the lock --------------------------------------------------------------------------------


def test_another_process_holding_the_repository_makes_us_wait_then_busy(remote, monkeypatch):
    monkeypatch.setattr(lock, "LOCK_WAIT_S", 0.5)
    url = get_engine().url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (lock.lock_key(remote.target.lock_name),))
        with pytest.raises(git.GitBusy):
            _commit(remote.target, {"dev/a.json": b"1"})
    assert _commit(remote.target, {"dev/a.json": b"1"}).created


def test_writers_on_one_repository_take_turns(remote, git_server):
    """Two writers at once: the lock serialises them, so neither loses a push race."""
    results, errors = [], []

    def write(name):
        try:
            results.append(_commit(remote.target, {f"dev/{name}.json": name.encode()}))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.attempts for r in results) == [1, 1, 1]
    assert len(git.history(remote.target, "")) == 3


# --- credentials and providers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "username", "sent"),
    [
        ("github", None, "x-access-token"),
        ("gitlab", None, "oauth2"),
        ("bitbucket", None, "x-token-auth"),
        ("generic", None, "git"),
        ("gitlab", "gitlab+deploy-token-7", "gitlab+deploy-token-7"),
        ("bitbucket", "ada", "ada"),
        ("gitea", None, "<the token>"),  # Gitea reads the token as the username
    ],
)
def test_each_providers_token_username(remote, git_server, provider, username, sent):
    target = _at(remote.target, remote.url, token=WRITE_TOKEN, username=username, provider=provider)
    assert _commit(target, {"dev/a.json": provider.encode()}).created
    assert set(git_server.usernames) == {WRITE_TOKEN if sent == "<the token>" else sent}


def test_a_read_only_token_reads_but_cannot_push(remote):
    _commit(remote.target, {"dev/a.json": b"1"})
    reader = _at(remote.target, remote.url, token=READ_TOKEN)
    assert git.read_file(reader, "dev/a.json").content == b"1"
    with pytest.raises(git.GitRemoteError) as caught:
        _commit(reader, {"dev/a.json": b"2"})
    assert caught.value.reason == "no_write_access" and not caught.value.retryable


@pytest.mark.parametrize("token", ["ghp_wrong_token_value", None])
def test_a_wrong_or_missing_token_is_auth_failed(remote, token):
    target = _at(remote.target, remote.url, token=token)
    with pytest.raises(git.GitRemoteError) as caught:
        git.head(target)
    assert caught.value.reason == "auth_failed" and caught.value.code == "git_auth_failed"
    assert "ghp_wrong_token_value" not in str(caught.value)
    assert not caught.value.retryable


# --- the remote failing ----------------------------------------------------------------------


def test_a_missing_repository_is_not_found(remote, git_server):
    target = _at(remote.target, git_server.url("no-such-repo"), token=WRITE_TOKEN)
    with pytest.raises(git.GitRemoteError) as caught:
        git.head(target)
    assert caught.value.reason == "not_found"


def test_a_missing_branch_names_the_ones_that_exist(remote):
    _commit(remote.target, {"dev/a.json": b"1"})
    other = dataclasses.replace(remote.target, branch="production")
    for call in (lambda: git.head(other), lambda: _commit(other, {"dev/a.json": b"2"})):
        with pytest.raises(git.GitRemoteError) as caught:
            call()
        assert caught.value.reason == "branch_missing"
        assert "'production'" in caught.value.message and "main" in caught.value.message


def test_an_unreachable_remote_is_retryable(remote):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    target = _at(remote.target, f"http://127.0.0.1:{port}/x.git", token=WRITE_TOKEN)
    with pytest.raises(git.GitRemoteError) as caught:
        git.head(target)
    assert caught.value.reason == "unreachable" and caught.value.retryable


def test_a_remote_that_never_answers_times_out_in_bounded_time(remote, monkeypatch):
    monkeypatch.setattr(command, "REMOTE_TIMEOUT_S", 2.0)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections (kernel backlog), never answers
        port = silent.getsockname()[1]
        target = _at(remote.target, f"http://127.0.0.1:{port}/x.git", token=WRITE_TOKEN)
        started = time.monotonic()
        with pytest.raises(git.GitRemoteError) as caught:
            git.head(target)
    assert caught.value.reason == "timeout" and caught.value.retryable
    assert time.monotonic() - started < 10


def test_a_redirect_is_not_followed(remote, git_server):
    _commit(remote.target, {"dev/a.json": b"1"})
    moved = remote.url.replace(f":{git_server.port}/", f":{git_server.port}/moved/")
    with pytest.raises(git.GitRemoteError) as caught:
        git.head(_at(remote.target, moved, token=WRITE_TOKEN))
    assert caught.value.reason == "moved"


def test_a_private_address_is_refused_before_any_request(remote, git_server, settings_override):
    settings_override(allow_private_networks=False)
    with pytest.raises(git.GitRemoteError) as caught:
        git.head(remote.target)
    assert caught.value.reason == "refused_address"
    assert git_server.usernames == []


def test_a_host_that_does_not_resolve_is_unreachable(remote):
    target = _at(remote.target, "https://no-such-host.invalid/x.git", token=WRITE_TOKEN)
    with pytest.raises(git.GitRemoteError) as caught:
        git.head(target)
    assert caught.value.reason == "unreachable"


def test_the_connection_goes_to_the_address_that_was_checked(remote, monkeypatch):
    """DNS may answer differently the second time (rebinding): git is pinned to the checked
    addresses, so it never resolves the name itself."""
    real = transport.resolve_checked
    monkeypatch.setattr(
        transport, "resolve_checked", lambda host, port, **kw: real("127.0.0.1", port, **kw)
    )
    url = remote.url.replace("127.0.0.1", "rebinding.invalid")
    _commit(_at(remote.target, url, token=WRITE_TOKEN), {"dev/a.json": b"pinned"})
    assert git.read_file(remote.target, "dev/a.json").content == b"pinned"


# --- secrets ---------------------------------------------------------------------------------


def test_no_secret_is_ever_a_command_line_argument(remote, git_server, monkeypatch):
    seen = []
    real = subprocess.Popen

    def spy(args, **kwargs):
        seen.append((list(args), kwargs.get("env") or {}))
        return real(args, **kwargs)

    monkeypatch.setattr(command.subprocess, "Popen", spy)
    _commit(remote.target, {"dev/a.json": b"1"})
    git.list_files(remote.target)
    with pytest.raises(git.GitRemoteError):
        git.head(_at(remote.target, remote.url, token=READ_TOKEN + "x"))
    argv = "\n".join(" ".join(args) for args, _ in seen)
    basic = remote.target.credentials.basic_auth("127.0.0.1")
    header = transport.base64.b64encode(basic.encode()).decode()
    assert WRITE_TOKEN not in argv and READ_TOKEN not in argv and header not in argv
    # Where the token does travel: git's environment, readable by this user and root only.
    assert any(header in " ".join(env.values()) for _, env in seen)


def test_a_second_tenant_on_the_same_url_has_its_own_cache(remote, git_server):
    _commit(remote.target, {"dev/a.json": b"1"})
    twin = new_remote(git_server)  # another tenant ...
    other_tenant = dataclasses.replace(twin.target, remote=remote.target.remote)  # ... same URL
    assert other_tenant.lock_name != remote.target.lock_name
    assert git.read_file(other_tenant, "dev/a.json").content == b"1"
