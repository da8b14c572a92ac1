"""The HTTP API (`/api/v1`, OpenAPI at `/api/v1/openapi.json`) over the operations service.

Served by the `api` Cloud Function in production (IAM-authenticated) and by `mhi serve` locally.
"""
