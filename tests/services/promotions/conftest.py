import pytest


@pytest.fixture
def dev(factory, tenant, fake_n8n):
    return factory.environment(tenant.id, fake_n8n, environment_class="dev")


@pytest.fixture
def staging(factory, tenant, second_n8n):
    return factory.environment(tenant.id, second_n8n, environment_class="staging")
