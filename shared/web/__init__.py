"""The web base every service's application factory stands on.

`create_service_app` (app.py) puts together small extensions: flask-smorest with the OpenAPI
document (app.py), JSON errors in the contract's shape (errors.py), JWT authentication
(auth.py), Idempotency-Key handling (idempotency.py), request and correlation ids and request
metrics (requests.py), and health, readiness and metrics endpoints (health.py).
"""

from shared.web.app import create_service_app
from shared.web.auth import authenticated, bearer_principal
from shared.web.context import Blueprint, ServiceContext, context
from shared.web.errors import error_body

__all__ = [
    "Blueprint",
    "ServiceContext",
    "authenticated",
    "bearer_principal",
    "context",
    "create_service_app",
    "error_body",
]
