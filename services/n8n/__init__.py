"""Talking to n8n instances: the REST client, its typed errors, the write-body allowlist."""

from services.n8n.client import MAX_PAGE_SIZE, N8nClient, VersionInfo
from services.n8n.errors import (
    N8nAddressRefused,
    N8nBadRequest,
    N8nConflict,
    N8nError,
    N8nForbidden,
    N8nHttpError,
    N8nMethodNotAllowed,
    N8nNotFound,
    N8nNotN8n,
    N8nRateLimited,
    N8nResponseTooLarge,
    N8nServerError,
    N8nTimeout,
    N8nTLSError,
    N8nUnauthorized,
    N8nUnreachable,
)
from services.n8n.payload import workflow_write_body

__all__ = [
    "MAX_PAGE_SIZE",
    "N8nAddressRefused",
    "N8nBadRequest",
    "N8nClient",
    "N8nConflict",
    "N8nError",
    "N8nForbidden",
    "N8nHttpError",
    "N8nMethodNotAllowed",
    "N8nNotFound",
    "N8nNotN8n",
    "N8nRateLimited",
    "N8nResponseTooLarge",
    "N8nServerError",
    "N8nTLSError",
    "N8nTimeout",
    "N8nUnauthorized",
    "N8nUnreachable",
    "VersionInfo",
    "workflow_write_body",
]
