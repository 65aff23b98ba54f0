"""A structured diff that explains how two versions of a workflow differ.

The semantic digest (services/workflow_digest.py) decides whether two versions differ; this
only explains. Each side is raw n8n JSON (of any environment), a parsed workflow file, or a
``Version`` that adds the side's id mappings. Both sides are compared in canonical terms:
references to other workflows as ``canonical:<id>``, credentials by logical key.

The result lists behaviour changes (``changes``), what the digest leaves out (``cosmetic``:
positions, notes, sticky notes, cached names of called workflows, a credential renamed
behind the same mapping) and what the tenant's ignore rules cover (``ignored``), plus tags and
the active flag apart, and a risk level with its reasons (services/workflow_risk.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from services.workflow_compare import Change, compare
from services.workflow_digest import (
    CredentialKey,
    WorkflowRef,
    default_credential_key,
    semantic_digest,
    tag_names,
)
from services.workflow_file import WorkflowFile, canonical_id_of, to_canonical_references
from services.workflow_ignore import covering_rule, strip_ignored
from services.workflow_risk import Risk, assess

__all__ = ["Change", "Version", "WorkflowDiff", "diff_workflows"]


@dataclass(frozen=True)
class Version:
    """One side of a diff with its mappings: ``workflow_ref`` maps the instance's workflow ids
    to canonical ids (raw n8n JSON only), ``credential_key`` gives a credential's logical key
    (default: type and name)."""

    workflow: Mapping[str, Any] | WorkflowFile
    workflow_ref: WorkflowRef | None = None
    credential_key: CredentialKey | None = None


Side = Mapping[str, Any] | WorkflowFile | Version


@dataclass(frozen=True)
class WorkflowDiff:
    """Everything that differs between two versions, ready for an API or a page."""

    #: The semantic digests are equal (ignore rules applied): the versions behave the same.
    identical: bool
    before_digest: str
    after_digest: str
    changes: tuple[Change, ...]
    cosmetic: tuple[Change, ...]
    ignored: tuple[Change, ...]
    tags_added: tuple[str, ...]
    tags_removed: tuple[str, ...]
    #: (before, after) when the active flag differs.
    active: tuple[bool, bool] | None
    risk: Risk

    def of(self, section: str, action: str | None = None) -> list[Change]:
        """The behaviour changes of one section (and action)."""
        return [
            c
            for c in self.changes
            if c.section == section and (action is None or c.action == action)
        ]

    def summary(self) -> dict[str, int]:
        nodes = self.of("node")
        return {
            "nodes_added": sum(c.action == "added" for c in nodes if not c.path),
            "nodes_removed": sum(c.action == "removed" for c in nodes if not c.path),
            "nodes_renamed": sum(c.action == "renamed" for c in nodes),
            "nodes_changed": len({c.node for c in nodes if c.path and c.action != "renamed"}),
            "connections_added": len(self.of("connection", "added")),
            "connections_removed": len(self.of("connection", "removed")),
            "settings_changed": len(self.of("setting")),
            "credentials_changed": len(self.of("credential")),
            "cosmetic": len(self.cosmetic),
            "ignored": len(self.ignored),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "digests": {"before": self.before_digest, "after": self.after_digest},
            "risk": self.risk.as_dict(),
            "summary": self.summary(),
            "changes": [c.as_dict() for c in self.changes],
            "cosmetic": [c.as_dict() for c in self.cosmetic],
            "ignored": [c.as_dict() for c in self.ignored],
            "tags": {"added": list(self.tags_added), "removed": list(self.tags_removed)},
            "active": (
                {"before": self.active[0], "after": self.active[1]} if self.active else None
            ),
        }


def diff_workflows(before: Side, after: Side, *, ignore_rules: Sequence[str] = ()) -> WorkflowDiff:
    """Explain how ``after`` differs from ``before``.

    ``ignore_rules`` (JSONPath, services/workflow_ignore.py; validate them first) are applied
    to both sides for the digests; the differences they cover are listed in ``ignored``.
    """
    b_content, b_key = _prepared(before)
    a_content, a_key = _prepared(after)
    b_strip = strip_ignored(b_content, ignore_rules)
    a_strip = strip_ignored(a_content, ignore_rules)
    found = compare(b_content, a_content, b_key, a_key)
    ignored: list[Change] = []
    if b_strip.workflow is not b_content or a_strip.workflow is not a_content:
        kept = compare(b_strip.workflow, a_strip.workflow, b_key, a_key)
        kept_keys = {c.key for c in kept}
        ignored = [
            replace(c, ignored_by=covering_rule(c.location, b_strip, a_strip))
            for c in found
            if c.key not in kept_keys
        ]
        found = kept
    b_digest, a_digest = _digest(b_strip.workflow, b_key), _digest(a_strip.workflow, a_key)
    b_tags, a_tags = set(tag_names(b_content)), set(tag_names(a_content))
    b_active, a_active = bool(b_content.get("active")), bool(a_content.get("active"))
    changes = tuple(c for c in found if not c.cosmetic)
    return WorkflowDiff(
        identical=b_digest == a_digest,
        before_digest=b_digest,
        after_digest=a_digest,
        changes=changes,
        cosmetic=tuple(c for c in found if c.cosmetic),
        ignored=tuple(ignored),
        tags_added=tuple(sorted(a_tags - b_tags)),
        tags_removed=tuple(sorted(b_tags - a_tags)),
        active=(b_active, a_active) if b_active != a_active else None,
        risk=assess(changes),
    )


def _prepared(side: Side) -> tuple[Mapping[str, Any], CredentialKey]:
    version = side if isinstance(side, Version) else Version(side)
    workflow = version.workflow
    if isinstance(workflow, WorkflowFile):
        content: Mapping[str, Any] = workflow.workflow
    elif version.workflow_ref is not None:
        content = to_canonical_references(workflow, version.workflow_ref)
    else:
        content = workflow
    return content, version.credential_key or default_credential_key


def _digest(content: Mapping[str, Any], key: CredentialKey) -> str:
    return semantic_digest(content, credential_key=key, workflow_ref=canonical_id_of)
