"""Diff, render and parse of one large workflow, against hashing its JSON.

- Bare: ``sha256(json.dumps(w, sort_keys=True))`` of both versions: what deciding "do they
  differ" costs with no explanation at all.
- Digest: ``semantic_digest`` of both versions (what drift decides with).
- Diff: ``services.workflow_diff.diff_workflows`` (digests, node matching, per-node semantic
  forms, parameter paths, risk), without and with five ignore rules (which diffs twice).
- Render / parse: ``services.workflow_file.render`` and ``parse`` of the same workflow.

    .venv/bin/python bench/workflow_diff.py [--nodes 600] [--rounds 20]

Prints the median and the fastest round of each.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.workflow_diff import diff_workflows
from services.workflow_digest import semantic_digest
from services.workflow_file import parse, render
from tests.services.workflow_samples import big_workflow, named

RULES = [
    "$.settings.timezone",
    "$.nodes[?@.name == 'Step 3'].parameters.fields.text",
    "$.nodes[?match(@.name, 'Debug.*')]",
    "$..cachedResultName",
    "$.nodes[*].parameters.options.timeout",
]


def _timings_ms(work: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median and fastest round: on a shared machine the fastest is the least disturbed."""
    work()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def _bare(before: dict, after: dict) -> bool:
    def digest(w: dict) -> str:
        return hashlib.sha256(json.dumps(w, sort_keys=True).encode()).hexdigest()

    return digest(before) == digest(after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    before = big_workflow(args.nodes)
    after = copy.deepcopy(before)
    named(after, f"Step {args.nodes // 2}")["parameters"]["fields"]["index"] = -1
    named(after, "Step 1")["position"] = [5, 5]
    data = render(before, canonical_id="bench", slug="bench", workflow_ref={}.get)
    rows = [
        ("bare sha256 of sorted JSON, both sides", lambda: _bare(before, after)),
        ("semantic digest, both sides", lambda: (semantic_digest(before), semantic_digest(after))),
        ("diff", lambda: diff_workflows(before, after)),
        ("diff with 5 ignore rules", lambda: diff_workflows(before, after, ignore_rules=RULES)),
        ("render", lambda: render(before, canonical_id="b", slug="b", workflow_ref={}.get)),
        ("parse", lambda: parse(data)),
    ]
    print(f"{args.nodes} nodes, {len(data):,} bytes as a file, {args.rounds} rounds")
    print("| what | median ms | fastest ms |\n|---|---|---|")
    for label, work in rows:
        median, fastest = _timings_ms(work, args.rounds)
        print(f"| {label} | {median:.1f} | {fastest:.1f} |")


if __name__ == "__main__":
    main()
