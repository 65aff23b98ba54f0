"""A tenant ready to promote from the dashboard: on the pro plan, dev and staging on two fake
n8n instances with Git, one workflow approved in both with a newer version approved in dev,
and a pipeline dev -> staging (tests/promotions.py builds it through the services)."""

from __future__ import annotations

import pytest

from tests.drift import on_plan
from tests.promotions import new_version_in_dev, pipeline, seed, workflow

#: The workflow the tests promote.
NAME = "Invoice sync"


@pytest.fixture
def dev(factory, tenant, fake_n8n):
    on_plan(factory, tenant, "pro")  # pipelines and promotions are a paid feature
    return factory.environment(tenant.id, fake_n8n, environment_class="dev", name="dev")


@pytest.fixture
def staging(factory, tenant, second_n8n):
    return factory.environment(tenant.id, second_n8n, environment_class="staging", name="staging")


@pytest.fixture
def seeds(factory, tenant, dev, staging, fake_n8n, second_n8n):
    found = seed(
        factory,
        tenant,
        dev,
        fake_n8n,
        {NAME: workflow(NAME)},
        staging=staging,
        fake_staging=second_n8n,
    )
    new_version_in_dev(factory, tenant, dev, fake_n8n, found)
    return found


@pytest.fixture
def pipe(factory, tenant, dev, staging):
    """dev -> staging, approval required (by any admin but the requester)."""
    return pipeline(factory, tenant, dev, staging, approvals={"required": True})
