"""Promotions (issue 12): pipelines and their stages, compare and validate, credential
mappings, the promotion lifecycle, deployments (now or scheduled), execution and rollback."""
