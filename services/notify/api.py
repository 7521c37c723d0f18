"""HTTP endpoints of the notify service: parse, call a use case, serialize. No rules here."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask.views import MethodView

from services.notify import schemas, service
from shared.auth import Principal
from shared.db import utcnow
from shared.web import Blueprint, authenticated, context

notifications = Blueprint(
    "notifications", __name__, url_prefix="/api/v1/notifications", description="The in-app inbox"
)
preferences = Blueprint(
    "preferences", __name__, url_prefix="/api/v1/preferences", description="Channels, quiet hours, locale"
)
deliveries = Blueprint(
    "deliveries", __name__, url_prefix="/api/v1/deliveries", description="Delivery status per channel"
)
digests = Blueprint("digests", __name__, url_prefix="/api/v1/digests", description="The daily digest")


def _policy() -> service.DeliveryPolicy:
    return service.DeliveryPolicy.from_settings(context().settings)


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


@notifications.route("/unread_count")
class UnreadCount(MethodView):
    @authenticated()
    @notifications.response(200, schemas.UnreadCountSchema)
    def get(self, principal: Principal) -> dict[str, int]:
        """How many of the caller's notifications are unread."""
        return service.unread_count(context().database, principal)


@notifications.route("/read_all")
class ReadAll(MethodView):
    @authenticated()
    @notifications.response(200, schemas.MarkedSchema)
    def post(self, principal: Principal) -> dict[str, int]:
        """Mark every unread notification of the caller read."""
        return service.mark_all_read(context().database, principal)


@notifications.route("/<string:notification_id>/read")
class NotificationRead(MethodView):
    @authenticated()
    @notifications.response(200, schemas.NotificationSchema)
    def post(self, notification_id: str, principal: Principal) -> dict[str, Any]:
        """Mark one notification read."""
        return service.mark_read(context().database, principal, notification_id)


@preferences.route("")
class Preferences(MethodView):
    @authenticated()
    @preferences.response(200, schemas.PreferencesSchema)
    def get(self, principal: Principal) -> dict[str, Any]:
        """The caller's preferences (the defaults until they save some)."""
        return service.get_preferences(context().database, principal)

    @authenticated()
    @preferences.arguments(schemas.PreferencesSchema)
    @preferences.response(200, schemas.PreferencesSchema)
    def put(self, body: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Replace the caller's preferences; org roles receive their org's messages on these channels."""
        return service.put_preferences(context().database, principal, body)


@deliveries.route("")
class Deliveries(MethodView):
    @authenticated("admin", "service")
    @deliveries.arguments(schemas.DeliveryQuery, location="query")
    @deliveries.response(200, schemas.DeliveryPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Per-channel delivery status and attempts, e.g. of one event (`?event_id=`)."""
        return service.list_deliveries(
            context().database, query["event_id"], query["status"], query["limit"], query["cursor"]
        )


@digests.route("")
class Digests(MethodView):
    @authenticated("admin", "service")
    @digests.arguments(schemas.DigestRunSchema)
    @digests.response(200, schemas.DigestResultSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Send today's (or `date`'s) digest to every org with work waiting; once per org and day."""
        policy = _policy()
        day: date = body["date"] or utcnow().astimezone(ZoneInfo(policy.zone)).date()
        return {"date": day, "digests": service.send_digests(context().database, day, policy)}
