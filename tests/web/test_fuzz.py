"""Property-based fuzz of every operation in the OpenAPI (schemathesis): valid and invalid
input, as an admin and as a viewer, never gets a server error or a response that breaks the
schema the API publishes. Operations are read from the live OpenAPI, so new endpoints are
fuzzed without being listed; their path ids come from tests/api_world.py."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.api_world import World, build_world

#: Examples per operation and role: ~45 operations x 2 roles stay well under a minute.
MAX_EXAMPLES = 10
#: Seconds one role's whole walk may take before it stops generating (what ran is checked).
BUDGET_S = 90
CHECKS = [not_a_server_error, response_schema_conformance]


def _strategy(operation, world, role: str, headers: dict[str, str]):
    names = [p.name for p in operation.path_parameters]
    path = {name: world.path_value(name, role, operation.label) for name in names}
    return st.one_of(
        operation.as_strategy(mode, path_parameters=path, headers=headers)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    )


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_no_input_gets_a_server_error_or_an_off_schema_response(app, factory, fake_n8n, role):
    world = build_world(factory, fake_n8n)
    headers = world.tenant.headers(role)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # Deletions last, so the other operations meet the world's objects rather than 404s.
    # Event streams stay open by design (tests/services/test_live.py covers them).
    operations = sorted(
        (
            operation
            for operation in (result.ok() for result in schema.get_all_operations())
            if not operation.path.endswith("/stream")
        ),
        key=lambda operation: (operation.method.upper() == "DELETE", operation.label),
    )
    assert len(operations) > 30, "the OpenAPI lost its operations"
    failures: list[str] = []
    deadline = time.monotonic() + BUDGET_S

    for operation in operations:
        if time.monotonic() > deadline:
            pytest.fail(f"the fuzz ran out of its {BUDGET_S}s budget at {operation.label}")

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=_strategy(operation, world, role, headers))
        def walk(case):
            case.call_and_validate(checks=CHECKS)

        try:
            walk()
        except Exception as error:  # noqa: BLE001 - collect every operation's failure, then report
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)


def test_a_path_parameter_without_a_builder_fails_loudly():
    world = World(tenant=None, values={"env_id": "e"})
    assert world.path_value("env_id", "admin", "GET /x/{env_id}") == "e"
    with pytest.raises(pytest.fail.Exception, match="no builder for path parameter 'gizmo_id'"):
        world.path_value("gizmo_id", "admin", "GET /gizmos/{gizmo_id}")
