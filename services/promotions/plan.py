"""What a promotion would do: per selected workflow its status in the target (added,
modified, unchanged, target_hotfix, conflict, target_only), the structured diff and its risk,
and the body's references as the target would resolve them. Content is the source's approved
copy in Git, never the source's runtime.

    plan = build(source, target, canonical_ids)     # reads only: the database cache
    plan.items                                      # ordered: called workflows first
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from models.db import db
from models.environments import Environment
from models.workflows import CanonicalWorkflow, WorkflowEnvMap
from services import approved, env_links, runtime_digest
from services.errors import InvalidInput
from services.workflow_diff import Version, WorkflowDiff, diff_workflows
from services.workflow_file import Unresolved, WorkflowFile, to_n8n

#: A workflow with no nodes: the "before" of a workflow the target does not have.
EMPTY = {"name": "", "nodes": [], "connections": {}, "settings": {}}
#: Statuses a promotion writes; the rest are left alone.
WRITES = ("added", "modified", "target_hotfix", "conflict")


@dataclass
class Item:
    """One workflow of the plan."""

    canonical_id: uuid.UUID
    name: str
    status: str
    file: WorkflowFile | None = None
    target_n8n_id: str | None = None
    target_workflow: dict[str, Any] | None = None
    #: The structured diff's two sides (the target's copy, the file), explained on demand:
    #: a deployment whose risk gate admits every level never needs it.
    sides: tuple[Version, Version] | None = field(default=None, repr=False)
    #: References the target cannot resolve (other promoted workflows count as resolvable).
    unresolved: list[Unresolved] = field(default_factory=list)
    #: Canonical ids this workflow calls.
    calls: set[str] = field(default_factory=set)

    @property
    def writes(self) -> bool:
        return self.status in WRITES

    @functools.cached_property
    def explained(self) -> WorkflowDiff | None:
        return diff_workflows(*self.sides) if self.sides is not None else None

    @property
    def risk(self) -> str:
        return self.explained.risk.level if self.explained is not None else "low"

    @functools.cached_property
    def diff(self) -> dict[str, Any] | None:
        return self.explained.as_dict() if self.explained is not None else None

    def as_dict(self, *, with_diff: bool = True) -> dict[str, Any]:
        found = {
            "canonical_id": str(self.canonical_id),
            "name": self.name,
            "status": self.status,
            "target_n8n_id": self.target_n8n_id,
            "risk_level": self.risk,
        }
        if with_diff:
            found["diff"] = self.diff
        return found


@dataclass
class Plan:
    source: Environment
    target: Environment
    items: list[Item]
    links: env_links.EnvLinks
    credentials: env_links.CredentialResolver
    #: The target's approved copies of the selected workflows, and its digest context, as
    #: the plan read them (the deployment's approved copies are built on them).
    target_copies: dict[uuid.UUID, approved.ApprovedCopy]
    context: runtime_digest.DigestContext

    def writing(self) -> list[Item]:
        return [item for item in self.items if item.writes]


#: What the plan reads of the target's linked copies (rows, not entities: no other column
#: decoded, nothing for the session to track).
_TARGET_COLUMNS = (
    WorkflowEnvMap.canonical_id,
    WorkflowEnvMap.n8n_workflow_id,
    WorkflowEnvMap.workflow_name,
    WorkflowEnvMap.workflow_data,
    WorkflowEnvMap.env_content_hash,
)


def build(source: Environment, target: Environment, canonical_ids: list[uuid.UUID] | None) -> Plan:
    """The plan for ``canonical_ids`` (None: every approved copy of the source, and the
    target's linked workflows the source lacks as target_only)."""
    copies = approved.copies_for(source.id, canonical_ids)
    if canonical_ids is not None:
        missing = sorted(str(c) for c in set(canonical_ids) - set(copies))
        if missing:
            raise InvalidInput(
                "A selected workflow has no approved copy in the source environment "
                "(back it up or onboard it first).",
                code="not_approved_in_source",
                canonical_ids=missing,
            )
    files = approved.load_files(source, copies.values())
    links = env_links.links_for(target.id)
    creds = env_links.credentials_for(target.id)
    ctx = runtime_digest.context_for(target.id, links=links, credentials=creds)
    target_copies = approved.copies_for(target.id, list(files) if canonical_ids else None)
    rows = {
        row.canonical_id: row
        for row in db.execute(
            select(*_TARGET_COLUMNS).where(
                WorkflowEnvMap.environment_id == target.id,
                WorkflowEnvMap.canonical_id.is_not(None),
            )
        )
    }
    items = [
        _item(file, rows.get(cid), target_copies.get(cid), ctx=ctx, creds=creds, links=links)
        for cid, file in files.items()
    ]
    if canonical_ids is None:
        names = dict(
            db.execute(
                select(CanonicalWorkflow.id, CanonicalWorkflow.name).where(
                    CanonicalWorkflow.id.in_(set(rows) - set(files))
                )
            ).all()
        )
        items += [
            Item(
                cid,
                names.get(cid) or row.workflow_name or "",
                "target_only",
                target_n8n_id=row.n8n_workflow_id,
            )
            for cid, row in rows.items()
            if cid not in files
        ]
    promoted = {str(item.canonical_id) for item in items if item.writes}
    for item in items:
        if item.file is not None:
            item.unresolved, item.calls = _references(item.file, links, creds, promoted)
    return Plan(source, target, _ordered(items), links, creds, target_copies, ctx)


def _item(file, row, target_copy, *, ctx, creds, links) -> Item:
    cid = uuid.UUID(file.canonical_id)
    workflow = row.workflow_data if row is not None else None
    item = Item(cid, file.name, "added", file=file)
    before = Version(EMPTY)
    if row is not None:
        item.target_n8n_id, item.target_workflow = row.n8n_workflow_id, workflow
        source_digest = ctx.file(file)
        runtime = ctx.runtime(workflow) if workflow else row.env_content_hash
        approved_here = target_copy.digest if target_copy else None
        if runtime == source_digest:
            item.status = "unchanged"
        elif approved_here is None or runtime == approved_here:
            item.status = "modified"
        elif source_digest == approved_here:
            item.status = "target_hotfix"
        else:
            item.status = "conflict"
        before = Version(
            workflow or EMPTY, workflow_ref=links.workflow_ref, credential_key=creds.key
        )
    item.sides = (before, Version(file, credential_key=creds.key))
    return item


def _references(file, links, creds, promoted: set[str]) -> tuple[list[Unresolved], set[str]]:
    """The references the target cannot resolve, and the canonical workflows the file calls
    (a dry run of the body the deploy writer will build)."""
    calls: set[str] = set()

    def resolve(canonical_id: str) -> str | None:
        calls.add(canonical_id)
        if canonical_id in promoted:
            return links.n8n_id_for(canonical_id) or f"promoted:{canonical_id}"
        return links.n8n_id_for(canonical_id)

    _body, unresolved = to_n8n(file, resolve_workflow=resolve, resolve_credential=creds.resolve)
    return unresolved, calls


def _ordered(items: list[Item]) -> list[Item]:
    """Called workflows before their callers (a created callee's id is known when its caller
    is written); otherwise by name."""
    by_id = {str(i.canonical_id): i for i in items}
    done: dict[str, Item] = {}

    def visit(item: Item, path: set[str]) -> None:
        key = str(item.canonical_id)
        if key in done or key in path:
            return
        for callee in sorted(item.calls):
            if callee in by_id:
                visit(by_id[callee], path | {key})
        done[key] = item

    for item in sorted(items, key=lambda i: (i.name, str(i.canonical_id))):
        visit(item, set())
    return list(done.values())


def credential_refs(file: WorkflowFile) -> list[tuple[str, str, str]]:
    """(node, type, name) of each credential reference of a file."""
    return [
        (node["name"], cred_type, str(ref.get("name", "")))
        for node in file.nodes
        for cred_type, ref in (node.get("credentials") or {}).items()
        if isinstance(ref, dict)
    ]
