import pytest

from tests.drift import on_plan
from tests.jobs.test_worker_process import start_worker  # noqa: F401 - a fixture used here
from tests.promotions import new_version_in_dev, seed, workflow


@pytest.fixture(autouse=True)
def _entitled(factory, tenant):
    """Promotions are a paid feature: the tenant is on the pro plan."""
    on_plan(factory, tenant, "pro")


@pytest.fixture
def dev(factory, tenant, fake_n8n):
    return factory.environment(tenant.id, fake_n8n, environment_class="dev")


@pytest.fixture
def staging(factory, tenant, second_n8n):
    return factory.environment(tenant.id, second_n8n, environment_class="staging")


@pytest.fixture
def ten(factory, tenant, dev, staging, fake_n8n, second_n8n):
    """Ten workflows in dev and staging, linked and approved; dev has a newer version."""
    bodies = {f"Flow {n:02d}": workflow(f"Flow {n:02d}") for n in range(1, 11)}
    seeds = seed(factory, tenant, dev, fake_n8n, bodies, staging=staging, fake_staging=second_n8n)
    new_version_in_dev(factory, tenant, dev, fake_n8n, seeds)
    return seeds
