"""A fake n8n speaking the public REST API over real HTTP, for tests."""

from tests.fake_n8n.server import FakeN8n, RecordedRequest, sample_workflow

__all__ = ["FakeN8n", "RecordedRequest", "sample_workflow"]
