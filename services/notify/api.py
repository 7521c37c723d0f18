"""HTTP endpoints of the notify service."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from services.notify import schemas, service
from shared.auth import Principal
from shared.web import Blueprint, authenticated, context

notifications = Blueprint(
    "notifications", __name__, url_prefix="/api/v1/notifications", description="The in-app inbox"
)


@notifications.route("")
class Notifications(MethodView):
    @authenticated()
    @notifications.arguments(schemas.NotificationQuery, location="query")
    @notifications.response(200, schemas.NotificationPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The caller's notifications, newest first: to their member id, and to their org for org roles."""
        return service.list_notifications(
            context().database, principal, query["unread"], query["limit"], query["cursor"]
        )


@notifications.route("/<string:notification_id>/read")
class NotificationRead(MethodView):
    @authenticated()
    @notifications.response(200, schemas.NotificationSchema)
    def post(self, notification_id: str, principal: Principal) -> dict[str, Any]:
        """Mark one notification read."""
        return service.mark_read(context().database, principal, notification_id)
