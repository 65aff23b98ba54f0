"""The README states what each kind of job guarantees: kept true to the policies declared."""

from __future__ import annotations

import re
from pathlib import Path

from jobs import core, load_actors

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(?P<kind>\w+)` \| (?P<attempts>\d+) \| (?P<requeued>yes|no)\b")


def test_the_readme_states_each_kinds_guarantee(app):
    load_actors()
    section = README.read_text().split("## Jobs: what each kind guarantees", 1)[1]
    stated = {
        match["kind"]: (int(match["attempts"]), match["requeued"] == "yes")
        for line in section.splitlines()
        if (match := ROW.match(line))
    }
    declared = {
        policy.job_type: (
            policy.max_attempts,
            policy.requeue_if_stale and policy.max_attempts > 1,
        )
        for policy in core.registered_policies()
    }
    assert stated == declared
