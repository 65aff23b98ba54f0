"""The diff of one canonical workflow between two versions, each named by a side:

- ``env:<environment id>``: what the environment runs (its linked copy, as last synced);
- ``git:<environment id>``: the environment's approved copy (the cache of Git's head);
- ``git:<environment id>@<commit>``: the approved copy at any commit.

    canonical_diff.diff(canonical_id, "git:<env>", "env:<env>")   # WorkflowDiff.as_dict()

The semantic digest decides whether the versions differ; the diff only explains
(services/workflow_diff.py), with the tenant's ignore rules applied to both sides and listed.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from services import approved, canonicals, env_links, environments, git, ignore_rules, restore
from services.errors import InvalidInput, NotFound
from services.runtime_copies import fill_definitions, rows
from services.workflow_diff import Version, diff_workflows
from services.workflow_file import parse

_SIDE = re.compile(r"^(env|git):([0-9a-fA-F-]{36})(?:@([0-9a-fA-F]{4,64}))?$")


def diff(canonical_id: uuid.UUID, left: str, right: str) -> dict[str, Any]:
    """How ``right`` differs from ``left`` (sides as in the module's docstring)."""
    canonical = canonicals.get(canonical_id)
    before, before_info = _side(canonical.id, left)
    after, after_info = _side(canonical.id, right)
    result = diff_workflows(before, after, ignore_rules=ignore_rules.rules()).as_dict()
    return {"canonical_id": canonical.id, "left": before_info, "right": after_info, **result}


def _side(canonical_id: uuid.UUID, spec: str) -> tuple[Version, dict[str, Any]]:
    match = _SIDE.match(spec or "")
    if not match:
        raise InvalidInput(
            f"{spec!r} is not a side: use env:<environment id>, git:<environment id> or "
            "git:<environment id>@<commit>.",
            code="invalid_side",
        )
    kind, env_text, commit = match.groups()
    if kind == "env" and commit:
        raise InvalidInput("A runtime copy has no commit.", code="invalid_side")
    try:
        env = environments.get(uuid.UUID(env_text))
    except ValueError:
        raise InvalidInput(f"{env_text!r} is not an environment id.", code="invalid_side") from None
    info: dict[str, Any] = {"side": spec, "environment_id": str(env.id), "kind": kind}
    if kind == "env":
        [copy] = rows(env.id, canonical_ids=[canonical_id], statuses=("linked",)) or [None]
        if copy is None:
            raise NotFound(f"{env.name} runs no copy of this workflow.")
        fill_definitions(env, [copy])
        if copy.definition is None:
            raise NotFound(f"{env.name} no longer has this workflow.")
        info.update(n8n_id=copy.n8n_id, digest=copy.digest)
        return Version(copy.definition, env_links.links_for(env.id).workflow_ref), info
    if commit is None:
        copies = approved.copies_for(env.id, [canonical_id])
        if canonical_id not in copies:
            raise NotFound(f"{env.name} has no approved copy of this workflow.")
        copy = copies[canonical_id]
        [file] = approved.load_files(env, [copy]).values()
        info.update(commit=copy.commit, path=copy.path)
        return Version(file), info
    target, path = restore.path_of(canonical_id, env)
    found = git.read_file(target, path, ref=commit)
    if found is None:
        raise NotFound(f"{path} does not exist at {commit}.")
    info.update(commit=commit, path=path)
    return Version(parse(found.content)), info
