"""Reading and committing through services.git, on the embedded repository and on a remote
served over smart HTTP, both real git repositories."""

from __future__ import annotations

import json
import uuid

import pytest

from services import git
from services.errors import InvalidInput
from services.git import store
from tests.git.server import commit_directly
from tests.git.server import git as run_git


def _commit(target, changes, **options):
    options.setdefault("message", "Change")
    options.setdefault("operation", "test")
    return git.commit_changes(target, changes=changes, **options)


def test_a_change_set_is_one_commit_with_who_why_and_links(target):
    author = git.Identity("Ada Lovelace", "ada@example.com", uuid.uuid4())
    job_id, promotion_id = uuid.uuid4(), uuid.uuid4()
    result = _commit(
        target,
        {f"dev/wf-{n}.json": json.dumps({"n": n}).encode() for n in range(3)},
        message="Promote 3 workflows\n\nFrom staging.",
        operation="promotion",
        author=author,
        job_id=job_id,
        links={"promotion": promotion_id, "incident": "inc-7"},
    )
    assert result.created and result.parent is None and result.attempts == 1
    assert result.changed_paths == ("dev/wf-0.json", "dev/wf-1.json", "dev/wf-2.json")
    assert git.head(target) == result.sha

    (commit,) = git.history(target)
    assert commit.sha == result.sha
    assert (commit.author_name, commit.author_email) == ("Ada Lovelace", "ada@example.com")
    assert (commit.committer_name, commit.committer_email) == (
        git.PLATFORM.name,
        git.PLATFORM.email,
    )
    assert commit.subject == "Promote 3 workflows"
    assert commit.operation == "promotion"
    assert commit.job_id == str(job_id)
    assert commit.user_id == str(author.user_id)
    assert commit.links == {"promotion": str(promotion_id), "incident": "inc-7"}


def test_list_files_reads_a_folder_at_a_commit_with_contents(target):
    first = _commit(target, {"dev/a.json": b"1", "dev/sub/b.json": b"2", "prod/c.json": b"3"})
    second = _commit(target, {"dev/a.json": b"changed", "dev/sub/b.json": None})

    now = git.list_files(target)
    assert now.commit == second.sha
    assert [(f.path, f.content) for f in now.files] == [("dev/a.json", b"changed")]
    before = git.list_files(target, "dev", ref=first.sha)
    assert [(f.path, f.content) for f in before.files] == [
        ("dev/a.json", b"1"),
        ("dev/sub/b.json", b"2"),
    ]
    everything = git.list_files(target, "", contents=False)
    assert [(f.path, f.content) for f in everything.files] == [
        ("dev/a.json", None),
        ("prod/c.json", None),
    ]
    assert git.list_files(target, "nowhere").files == []


def test_blob_ids_are_gits_own(target):
    _commit(target, {"dev/a.json": b"hello\n"})
    (listed,) = git.list_files(target).files
    # git hash-object of "hello\n"
    assert listed.blob_sha == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert git.read_file(target, "dev/a.json").blob_sha == listed.blob_sha


def test_read_a_file_at_any_commit_and_its_history(target):
    shas = [
        _commit(target, {"dev/a.json": f"v{n}".encode()}, message=f"v{n}").sha for n in range(4)
    ]
    _commit(target, {"dev/other.json": b"x"}, message="unrelated")

    history = git.history(target, "dev/a.json")
    assert [c.sha for c in history] == shas[::-1]
    assert [c.subject for c in git.history(target, "dev/a.json", limit=2, skip=1)] == ["v2", "v1"]
    assert git.read_file(target, "dev/a.json", ref=shas[1]).content == b"v1"
    assert git.read_file(target, "dev/a.json", ref=shas[1][:10]).content == b"v1"
    assert git.read_file(target, "dev/missing.json") is None
    assert git.commit_info(target, shas[0]).subject == "v0"
    files = git.read_files(target, ["dev/a.json", "dev/other.json", "dev/nope.json"])
    assert {p: f and f.content for p, f in files.items()} == {
        "dev/a.json": b"v3",
        "dev/other.json": b"x",
        "dev/nope.json": None,
    }


def test_an_empty_repository_reads_as_empty(target):
    assert git.head(target) is None
    assert git.list_files(target) == git.Listing(None, [])
    assert git.history(target) == []
    assert git.read_file(target, "dev/a.json") is None


def test_an_unknown_commit_is_a_404(target):
    _commit(target, {"dev/a.json": b"1"})
    with pytest.raises(git.GitRefNotFound):
        git.read_file(target, "dev/a.json", ref="0" * 40)


def test_unchanged_content_makes_no_commit(target):
    first = _commit(target, {"dev/a.json": b"1", "dev/b.json": b"2"})
    again = _commit(target, {"dev/a.json": b"1", "dev/gone.json": None})
    assert (again.created, again.sha, again.changed_paths) == (False, first.sha, ())
    partly = _commit(target, {"dev/a.json": b"1", "dev/b.json": b"3"})
    assert partly.created and partly.changed_paths == ("dev/b.json",)
    assert len(git.history(target, "")) == 2


def test_a_thousand_files_in_one_commit(target):
    changes = {f"dev/wf-{n:04}.json": json.dumps({"id": n}).encode() for n in range(1000)}
    result = _commit(target, changes, operation="backup")
    assert len(result.changed_paths) == 1000
    listing = git.list_files(target)
    assert len(listing.files) == 1000
    assert listing.files[999].content == b'{"id": 999}'
    assert [c.sha for c in git.history(target, "")] == [result.sha]


def test_expected_versions_detect_someone_elses_edit(target):
    _commit(target, {"dev/a.json": b"mine"})
    read = git.read_file(target, "dev/a.json")
    _commit(target, {"dev/a.json": b"theirs"})  # someone else, in between
    with pytest.raises(git.GitConflict) as caught:
        _commit(target, {"dev/a.json": b"mine again"}, expected={"dev/a.json": read.blob_sha})
    (conflict,) = caught.value.conflicts
    assert conflict.path == "dev/a.json" and conflict.expected == read.blob_sha
    assert conflict.actual == git.read_file(target, "dev/a.json").blob_sha
    assert caught.value.details["conflicts"][0]["path"] == "dev/a.json"
    assert "dev/a.json" in caught.value.message
    assert git.read_file(target, "dev/a.json").content == b"theirs"  # never overwritten


def test_expecting_no_file_refuses_to_overwrite_one(target):
    _commit(target, {"dev/new.json": b"exists"})
    with pytest.raises(git.GitConflict):
        _commit(target, {"dev/new.json": b"create"}, expected={"dev/new.json": None})
    created = _commit(target, {"dev/other.json": b"create"}, expected={"dev/other.json": None})
    assert created.created


def test_based_on_a_commit_protects_every_changed_file(target):
    base = _commit(target, {"dev/a.json": b"1", "dev/b.json": b"1"}).sha
    _commit(target, {"dev/b.json": b"2"})
    with pytest.raises(git.GitConflict) as caught:
        _commit(target, {"dev/a.json": b"x", "dev/b.json": b"x"}, based_on=base)
    assert [c.path for c in caught.value.conflicts] == ["dev/b.json"]
    assert _commit(target, {"dev/a.json": b"x"}, based_on=base).created


def test_a_retried_change_that_already_landed_is_not_a_conflict(target):
    old = _commit(target, {"dev/a.json": b"old"})
    expected = {"dev/a.json": git.read_file(target, "dev/a.json").blob_sha}
    landed = _commit(target, {"dev/a.json": b"new"}, expected=expected)
    again = _commit(target, {"dev/a.json": b"new"}, expected=expected)
    assert landed.parent == old.sha
    assert (again.created, again.sha) == (False, landed.sha)


def test_a_preconditioned_file_outside_the_change_set_is_checked(target):
    _commit(target, {"dev/index.json": b"1", "dev/a.json": b"1"})
    stale = git.read_file(target, "dev/index.json").blob_sha
    _commit(target, {"dev/index.json": b"2"})
    with pytest.raises(git.GitConflict):
        _commit(target, {"dev/a.json": b"2"}, expected={"dev/index.json": stale})


@pytest.mark.parametrize(
    "path", ["", "/abs.json", "dev/../x", "dev//x", ".git/config", "dev/.GIT/x", "a\\b", "a\nb"]
)
def test_invalid_paths_are_refused(target, path):
    with pytest.raises(InvalidInput):
        _commit(target, {path: b"x"})


def test_odd_but_valid_file_names_round_trip(target):
    names = ["dev/with space.json", 'dev/quote".json', "dev/ünïcode.json", "dev/star*.json"]
    _commit(target, {name: name.encode() for name in names})
    assert {f.path: f.content for f in git.list_files(target).files} == {
        n: n.encode() for n in names
    }
    assert [c.subject for c in git.history(target, "dev/star*.json")] == ["Change"]
    assert git.history(target, "dev/s*.json") == []  # a path, never a pattern


def test_reads_and_writes_refuse_bad_ids(target):
    with pytest.raises(InvalidInput):
        git.read_file(target, "dev/a.json", ref="--upload-pack=evil")
    with pytest.raises(InvalidInput):
        _commit(target, {"dev/a.json": b"1"}, expected={"dev/a.json": "HEAD"})


def test_an_embedded_branch_that_moved_is_rebuilt_on_the_new_head(embedded, monkeypatch):
    """Another process moved the embedded branch between our read and our compare-and-swap."""
    _commit(embedded, {"dev/a.json": b"1"})
    repo = store.root() / "embedded" / f"{embedded.tenant_id}.git"
    real_build = store.build_commit
    raced = []

    def build_then_race(ws, **options):
        commit = real_build(ws, **options)
        if not raced:
            raced.append(commit_directly(repo, "main", {"dev/b.json": "theirs"}, "other process"))
        return commit

    monkeypatch.setattr(store, "build_commit", build_then_race)
    result = _commit(embedded, {"dev/c.json": b"mine"})
    assert result.attempts == 2 and result.parent == raced[0]
    assert {f.path for f in git.list_files(embedded).files} == {
        "dev/a.json",
        "dev/b.json",
        "dev/c.json",
    }


def test_git_tidies_after_the_first_commit_and_every_tenth(embedded, monkeypatch):
    """gc --auto is a process per run even when there is nothing to pack."""
    asked = []
    real_git = store.Workspace.git

    def counting(ws, *args, **options):
        if args[0] == "gc":
            asked.append(args)
        return real_git(ws, *args, **options)

    monkeypatch.setattr(store.Workspace, "git", counting)
    for n in range(store.TIDY_EVERY + 1):
        _commit(embedded, {"dev/a.json": str(n).encode()})
    assert asked == [("gc", "--auto", "--quiet")] * 2


def test_files_in_several_folders_are_found_with_one_listing(embedded, monkeypatch):
    _commit(embedded, {"dev/a/1.json": b"1", "dev/b/2.json": b"2", "dev/c/3.json": b"3"})
    listings = []
    real_git = store.Workspace.git

    def counting(ws, *args, **options):
        if args[0] == "ls-tree":
            listings.append(args)
        return real_git(ws, *args, **options)

    monkeypatch.setattr(store.Workspace, "git", counting)
    found = git.read_files(embedded, ["dev/a/1.json", "dev/c/3.json", "dev/d/4.json"])
    assert {p: f.content if f else None for p, f in found.items()} == {
        "dev/a/1.json": b"1",
        "dev/c/3.json": b"3",
        "dev/d/4.json": None,
    }
    assert len(listings) == 1


def test_the_embedded_repository_is_a_bare_repository_on_disk(embedded):
    result = _commit(embedded, {"dev/a.json": b"1"})
    repo = store.root() / "embedded" / f"{embedded.tenant_id}.git"
    assert run_git("-C", str(repo), "rev-parse", "--is-bare-repository").strip() == "true"
    assert run_git("-C", str(repo), "rev-parse", "refs/heads/main").strip() == result.sha
    assert run_git("-C", str(repo), "show", f"{result.sha}:dev/a.json") == "1"


def test_a_follow_up_is_built_with_the_commit_and_published_only_when_asked(target):
    base = _commit(target, {"dev/a.json": b"1"})
    then = git.FollowUp(
        changes={"dev/a.json": b"2", "dev/b.json": b"new"},
        message="Promote",
        operation="promotion",
        links={"snapshot": "s-1"},
        expected={"dev/a.json": git.read_file(target, "dev/a.json").blob_sha},
    )

    result = _commit(target, {"dev/snap/a.json": b"1"}, message="Snapshot", then=then)

    # Published: the commit alone; the follow-up waits on top of it.
    assert git.head(target) == result.sha and result.parent == base.sha
    assert result.staged.parent == result.sha
    assert result.staged.changed_paths == ("dev/a.json", "dev/b.json")
    assert git.read_file(target, "dev/a.json").content == b"1"

    published = git.publish_staged(target, result.staged)

    assert published.created and published.sha == result.staged.sha == git.head(target)
    promoted = git.commit_info(target, published.sha)
    assert promoted.parents == (result.sha,) and promoted.subject == "Promote"
    assert promoted.operation == "promotion" and promoted.links == {"snapshot": "s-1"}
    files = {f.path: f for f in git.list_files(target).files}
    assert {p: f.content for p, f in files.items()} == {
        "dev/a.json": b"2",
        "dev/b.json": b"new",
        "dev/snap/a.json": b"1",
    }
    assert published.blobs == {p: files[p].blob_sha for p in ("dev/a.json", "dev/b.json")}


def test_a_follow_up_is_not_published_over_a_branch_that_moved(target):
    result = _commit(
        target,
        {"dev/snap/a.json": b"1"},
        then=git.FollowUp(changes={"dev/a.json": b"mine"}, message="Later", operation="test"),
    )
    theirs = _commit(target, {"dev/other.json": b"theirs"})

    assert git.publish_staged(target, result.staged) is None
    assert git.head(target) == theirs.sha
    assert git.read_file(target, "dev/a.json") is None


def test_a_follow_up_that_would_conflict_is_left_out_not_the_commit(target):
    _commit(target, {"dev/a.json": b"someone's"})
    then = git.FollowUp(
        changes={"dev/a.json": b"mine"},
        message="Later",
        operation="test",
        expected={"dev/a.json": None},
    )

    result = _commit(target, {"dev/snap/a.json": b"1"}, then=then)

    assert result.created and result.staged is None
    assert git.head(target) == result.sha
