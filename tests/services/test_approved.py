"""Approved copies: one commit per operation with trailers, the cache (path, commit, blob,
digest, content) in step with Git, aligned runtime copies, conflicts with people's edits."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from services import approved, env_links, git
from services.workflow_file import from_n8n
from tests.canonical import link, make_canonical, rows, run, states, sync_env


def _files(factory, tenant, env, fake, ids_by_canonical):
    def render():
        refs = env_links.links_for(env.id)
        return [
            from_n8n(
                fake.workflow(n8n_id),
                canonical_id=str(canonical),
                slug=f"wf-{str(canonical)[:8]}",
                workflow_ref=refs.workflow_ref,
            )
            for canonical, n8n_id in ids_by_canonical.items()
        ]

    return run(factory, tenant, render)


def _commit(factory, tenant, env, changes, **options):
    def go():
        return approved.commit_approved(
            env,
            changes,
            operation=options.pop("operation", "backup"),
            message=options.pop("message", "Approve"),
            **options,
        )

    return run(factory, tenant, go)


@pytest.fixture
def linked_pair(app, factory, tenant, environment, fake_n8n):
    """Two workflows of the environment, each linked to a canonical workflow."""
    ids = fake_n8n.add_workflows(2)
    sync_env(factory, tenant, environment)
    found = {}
    for n8n_id in ids:
        canonical = make_canonical(factory, tenant, f"Flow {n8n_id}")
        link(factory, tenant, environment, n8n_id, canonical)
        found[canonical] = n8n_id
    return found


def test_approved_copies_are_one_commit_with_trailers_and_cached(
    app, factory, tenant, environment, fake_n8n, linked_pair
):
    files = _files(factory, tenant, environment, fake_n8n, linked_pair)
    job_id = uuid.uuid4()
    result = _commit(
        factory,
        tenant,
        environment,
        [approved.ApprovedChange(f) for f in files],
        user_id=tenant.user_ids["developer"],
        job_id=job_id,
        links={"snapshot": "s-1"},
    )

    assert result.created and len(result.paths) == 2
    target = run(factory, tenant, git.target_for, environment)
    [commit] = run(factory, tenant, git.history, target, "")
    assert commit.sha == result.sha
    assert commit.operation == "backup" and commit.job_id == str(job_id)
    assert commit.user_id == str(tenant.user_ids["developer"])
    assert commit.links == {"snapshot": "s-1"}
    listing = run(factory, tenant, git.list_files, target)
    blobs = {f.path: f.blob_sha for f in listing.files}
    cache = states(app, tenant, environment)
    for file in files:
        state = cache[uuid.UUID(file.canonical_id)]
        assert state.git_path == f"{target.folder}/workflows/{file.slug}.json"
        assert state.blob_sha == blobs[state.git_path]
        assert state.last_commit_sha == result.sha
        assert state.git_content_hash == result.digests[uuid.UUID(file.canonical_id)]
        assert state.file_content.encode() == next(
            f.content for f in listing.files if f.path == state.git_path
        )
    # The runtime copies were aligned with what was approved: in sync.
    for row in rows(app, tenant, environment).values():
        assert row.git_content_hash == row.env_content_hash


def test_a_runtime_copy_aligned_already_is_not_written_again(
    app, factory, tenant, environment, fake_n8n, linked_pair
):
    files = _files(factory, tenant, environment, fake_n8n, linked_pair)
    _commit(factory, tenant, environment, [approved.ApprovedChange(f) for f in files])
    before = {n8n_id: row.updated_at for n8n_id, row in rows(app, tenant, environment).items()}

    changed = [dataclasses.replace(f, tags=("new",)) for f in files]  # same digest
    _commit(factory, tenant, environment, [approved.ApprovedChange(f) for f in changed])

    after = rows(app, tenant, environment)
    assert {n8n_id: row.updated_at for n8n_id, row in after.items()} == before
    assert all(row.git_content_hash == row.env_content_hash for row in after.values())


def test_a_file_someone_changed_in_git_is_a_conflict_never_overwritten(
    app, factory, tenant, environment, fake_n8n, linked_pair
):
    files = _files(factory, tenant, environment, fake_n8n, linked_pair)
    _commit(factory, tenant, environment, [approved.ApprovedChange(f) for f in files])
    target = run(factory, tenant, git.target_for, environment)
    path = f"{target.folder}/workflows/{files[0].slug}.json"
    run(
        factory,
        tenant,
        git.commit_changes,
        target,
        changes={path: b'{"edited": "by a person"}\n'},
        message="hand edit",
        operation="manual",
    )
    before = states(app, tenant, environment)

    with pytest.raises(git.GitConflict) as conflict:
        _commit(factory, tenant, environment, [approved.ApprovedChange(files[0])])

    assert conflict.value.conflicts[0].path == path
    after = states(app, tenant, environment)
    assert {k: v.blob_sha for k, v in after.items()} == {k: v.blob_sha for k, v in before.items()}
    assert (
        run(factory, tenant, git.read_file, target, path).content == b'{"edited": "by a person"}\n'
    )


def test_extra_files_ride_in_the_same_commit_and_removal_drops_the_cache(
    app, factory, tenant, environment, fake_n8n, linked_pair
):
    files = _files(factory, tenant, environment, fake_n8n, linked_pair)
    first = _commit(
        factory,
        tenant,
        environment,
        [approved.ApprovedChange(files[0])],
        extra_files={"x/snapshots/s1/n8n-1.json": b"{}\n"},
    )
    assert first.extra_paths == ("x/snapshots/s1/n8n-1.json",)
    target = run(factory, tenant, git.target_for, environment)
    [commit] = run(factory, tenant, git.history, target, "")
    assert commit.sha == first.sha
    gone = uuid.UUID(files[0].canonical_id)
    second = _commit(
        factory, tenant, environment, [approved.ApprovedChange(None, canonical_id=gone)]
    )
    assert second.created
    assert gone not in states(app, tenant, environment)
    assert run(factory, tenant, git.read_file, target, first.paths[gone]) is None


def test_a_copy_over_the_cache_cap_is_read_from_git(
    app, factory, tenant, environment, fake_n8n, linked_pair, monkeypatch
):
    monkeypatch.setattr(approved, "MAX_CACHED_BYTES", 10)
    files = _files(factory, tenant, environment, fake_n8n, linked_pair)
    _commit(factory, tenant, environment, [approved.ApprovedChange(f) for f in files])
    cache = states(app, tenant, environment)
    assert all(state.file_content is None and state.content_bytes > 10 for state in cache.values())

    def load():
        copies = approved.copies_for(environment.id)
        return approved.load_files(environment, copies.values())

    loaded = run(factory, tenant, load)
    assert {f.canonical_id: f for f in loaded.values()} == {f.canonical_id: f for f in files}
