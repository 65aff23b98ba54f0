"""The one comparison rule (DOMAIN.md "Digests"): the semantic digest of the FILE form, after
the tenant's ignore rules. A runtime workflow of environment E digests through E's links
(n8n id -> canonical id) and E's credential keys, so it equals the digest of its Git file
whenever the two behave the same:

    ctx = runtime_digest.context_for(env_id)      # links, credential keys, ignore rules
    ctx.runtime(workflow)                         # a workflow as E's n8n returns it
    ctx.file(workflow_file)                       # an approved copy (services/workflow_file.py)

workflow_env_map.env_content_hash and workflow_git_state.git_content_hash are stored this way
(sync, deploys, approved commits). Links change: ``recompute_environment`` redoes the rows
that reference other workflows; rules change: ``rehash_tenant`` redoes everything (a job).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, column, or_, select, text, update

from models.db import db
from models.environments import Environment
from models.workflows import WorkflowEnvMap, WorkflowGitState
from services import env_links, ignore_rules
from services.bulk import json_page
from services.progress import Progress, no_progress
from services.workflow_digest import CredentialKey, WorkflowRef, calls_workflows, semantic_digest
from services.workflow_file import InvalidWorkflowFile, WorkflowFile, parse
from services.workflow_ignore import InvalidIgnoreRule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DigestContext:
    """What an environment's digests depend on besides the workflow itself."""

    workflow_ref: WorkflowRef
    #: None: type + name (no logical credential mapping applies).
    credential_key: CredentialKey | None = None
    ignore_rules: tuple[str, ...] = ()

    def runtime(self, workflow: Mapping[str, Any]) -> str:
        """The digest of a runtime copy (n8n JSON of this environment)."""
        # Mapping references copies the workflow's nodes: only worth it when it names one
        # (most do not; sync digests every workflow of every page).
        ref = self.workflow_ref if _names_workflows(workflow) else None
        try:
            return semantic_digest(
                workflow,
                credential_key=self.credential_key,
                workflow_ref=ref,
                ignore_rules=self.ignore_rules,
            )
        except InvalidIgnoreRule as error:
            # A descendant rule on a workflow nested past the JSONPath library's limit.
            log.warning("ignore rules not applied to workflow %s: %s", workflow.get("id"), error)
            return semantic_digest(workflow, credential_key=self.credential_key, workflow_ref=ref)

    def file(self, file: WorkflowFile) -> str:
        """The digest of an approved copy (equal to ``runtime`` of a copy that behaves the same)."""
        try:
            return file.semantic_digest(
                credential_key=self.credential_key, ignore_rules=self.ignore_rules
            )
        except InvalidIgnoreRule as error:
            log.warning("ignore rules not applied to file %s: %s", file.canonical_id, error)
            return file.semantic_digest(credential_key=self.credential_key)


def context_for(
    env_id: uuid.UUID,
    *,
    links: env_links.EnvLinks | None = None,
    credentials: env_links.CredentialResolver | None = None,
    rules: tuple[str, ...] | None = None,
) -> DigestContext:
    """An environment's digest context (a query for each part the caller does not pass)."""
    links = links if links is not None else env_links.links_for(env_id)
    # The credential key is type + name unless a logical mapping says otherwise. Every digest
    # of an environment goes through its mappings: a promoted approved copy names the source's
    # credential and the runtime the target's, so stored digests (sync, approved commits) must
    # agree with those a promotion computes, or every promoted workflow looks changed.
    if credentials is None:
        credentials = env_links.CredentialResolver(env_id, {}, env_links.logical_for(env_id))
    key = credentials.key if credentials.logical else None
    return DigestContext(
        links.workflow_ref, key, rules if rules is not None else ignore_rules.rules()
    )


def _names_workflows(workflow: Mapping[str, Any]) -> bool:
    """Whether a workflow may name another one (what rewrite_workflow_references rewrites)."""
    settings = workflow.get("settings")
    if isinstance(settings, Mapping) and ("errorWorkflow" in settings or "callerIds" in settings):
        return True
    nodes = workflow.get("nodes")
    return isinstance(nodes, list) and any(calls_workflows(node) for node in nodes)


# --- recomputing stored digests -----------------------------------------------------------------

_HASHES = json_page(column("id", Text), column("old", Text), column("hash", Text))
#: Cached definitions that name another workflow: the only digests a change of links moves.
_REFERENCES_OTHERS = or_(
    WorkflowEnvMap.workflow_data.op("@?")(
        text(
            '\'$.nodes[*] ? (@.type == "n8n-nodes-base.executeWorkflow" || '
            '@.type == "@n8n/n8n-nodes-langchain.toolWorkflow")\'::jsonpath'
        )
    ),
    WorkflowEnvMap.workflow_data["settings"].has_key("errorWorkflow"),
    WorkflowEnvMap.workflow_data["settings"].has_key("callerIds"),
)


def recompute_environment(
    env_id: uuid.UUID, *, references_only: bool = True, ctx: DigestContext | None = None
) -> dict[str, tuple[str, str]]:
    """Recompute env_content_hash from the cached definitions (in the caller's transaction);
    returns {row id: (old hash, new hash)} for the rows that changed. ``references_only``:
    after a change of links, only rows naming another workflow can change."""
    ctx = ctx or context_for(env_id)
    query = select(
        WorkflowEnvMap.id, WorkflowEnvMap.workflow_data, WorkflowEnvMap.env_content_hash
    ).where(WorkflowEnvMap.environment_id == env_id, WorkflowEnvMap.workflow_data.is_not(None))
    if references_only:
        query = query.where(_REFERENCES_OTHERS)
    changed = {}
    for row_id, data, old in db.execute(query):
        new = ctx.runtime(data)
        if new != old:
            changed[str(row_id)] = (old, new)
    _store(WorkflowEnvMap, "env_content_hash", changed)
    return changed


def rehash_tenant(*, progress: Progress = no_progress) -> dict[str, int]:
    """Recompute every stored digest of the current tenant under its current rules: runtime
    digests, approved-copy digests, and each runtime copy's aligned digest where it was
    aligned with one of them. One transaction; runs take turns (a lock per tenant)."""
    db.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('workflow_rehash:' || "
                    "current_setting('app.tenant_id'), 0))"))  # fmt: skip
    rules = ignore_rules.rules()
    env_ids = list(db.scalars(select(Environment.id).order_by(Environment.name)))
    totals = {"environments": len(env_ids), "runtime": 0, "approved": 0, "aligned": 0}
    for done, env_id in enumerate(env_ids):
        progress(current=done, total=len(env_ids), message="recomputing digests")
        ctx = context_for(env_id, rules=rules)
        runtime = recompute_environment(env_id, references_only=False, ctx=ctx)
        approved = _recompute_approved(env_id, ctx)
        totals["runtime"] += len(runtime)
        totals["approved"] += len(approved)
        totals["aligned"] += _realign(env_id, runtime, approved)
    # One transaction under the lock: a second run waits, then sees these digests.
    db.commit()
    return totals


def _recompute_approved(env_id: uuid.UUID, ctx: DigestContext) -> dict[str, tuple[str, str]]:
    """Approved copies' digests from their cached files; {canonical id: (old, new)}."""
    changed = {}
    rows = db.execute(
        select(
            WorkflowGitState.id,
            WorkflowGitState.canonical_id,
            WorkflowGitState.file_content,
            WorkflowGitState.git_content_hash,
        ).where(
            WorkflowGitState.environment_id == env_id, WorkflowGitState.file_content.is_not(None)
        )
    )
    updates = {}
    for row_id, canonical_id, content, old in rows:
        try:
            new = ctx.file(parse(content))
        except InvalidWorkflowFile:
            continue
        if new != old:
            changed[str(canonical_id)] = (old, new)
            updates[str(row_id)] = (old, new)
    _store(WorkflowGitState, "git_content_hash", updates)
    return changed


def _realign(
    env_id: uuid.UUID, runtime: dict[str, tuple[str, str]], approved: dict[str, tuple[str, str]]
) -> int:
    """Move each row's aligned digest (workflow_env_map.git_content_hash) to the new digest
    of what it was aligned with: its runtime copy's or its approved copy's, when it equalled
    the old one. Any other aligned digest stays (its content is not kept to recompute)."""
    if not runtime and not approved:
        return 0
    rows = db.execute(
        select(
            WorkflowEnvMap.id, WorkflowEnvMap.canonical_id, WorkflowEnvMap.git_content_hash
        ).where(
            WorkflowEnvMap.environment_id == env_id,
            WorkflowEnvMap.canonical_id.is_not(None),
            WorkflowEnvMap.git_content_hash.is_not(None),
        )
    ).all()
    updates = {}
    for row_id, canonical_id, aligned in rows:
        for moved in (runtime.get(str(row_id)), approved.get(str(canonical_id))):
            if moved and moved[0] == aligned:
                updates[str(row_id)] = (aligned, moved[1])
                break
    _store(WorkflowEnvMap, "git_content_hash", updates)
    return len(updates)


def _store(model, column_name: str, hashes: dict[str, tuple[str | None, str]]) -> None:
    """Set one hash column for many rows in one statement ({row id: (old, new)}), where it
    still holds the old hash: a write that landed meanwhile (a deploy, a sync) stored its own
    digest, under the rules and mappings of now, which a recomputation from the row read
    before must not overwrite."""
    if not hashes:
        return
    stored = getattr(model, column_name)
    db.execute(
        update(model)
        .where(
            model.id == _HASHES.c.id.cast(model.id.type),
            stored.is_not_distinct_from(_HASHES.c.old),
        )
        .values({column_name: _HASHES.c.hash}),
        {"rows": [{"id": k, "old": old, "hash": new} for k, (old, new) in hashes.items()]},
    )
