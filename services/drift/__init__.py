"""Drift: does each environment still run what was approved in Git, and what is being done
about it where it does not (issue 11; system.md §3.1, §3.6, §3.7, §4.2).

Public API, for promotions and the dashboard:

    from services.drift import gate
    gate.evaluate(env_id) -> gate.DriftGate        # blocked, mode, reasons, incident_id,
                                                   # expired, override, drift_status; never
                                                   # raises (fails closed)

Modules: ``gate`` (may a promotion enter), ``policies`` (tenant-wide or per environment,
defaults, severity and TTL rules), ``incidents`` (open incidents, queries, the snapshot),
``attestations`` (overrides and attestations that let promotions pass), ``timeline`` (each
incident's append-only history), ``checks`` (checks as jobs, their history), ``detection``
(the check: refresh, compare), ``git_refresh`` (the approved side from Git's head),
``recording`` (a check's outcome: status, history, incident), ``snapshot`` (the diffs),
``lifecycle`` (transitions, TTL extension, changes), ``approvals``, ``ttl`` (the TTL checker),
``resolution`` (revert, keep hotfix), ``retention``.
"""
