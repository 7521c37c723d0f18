"""HTTP endpoints of the notify service: parse, build a command, call a use case, return. No rules here."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import RAISE

from services.notify import commands, domain, queries, schemas
from services.notify.settings import NotifySettings
from services.notify.unit_of_work import NotifyUnitOfWork
from services.notify.webhook_address import WebhookGuard
from shared.auth import Principal
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


def _uow() -> NotifyUnitOfWork:
    return NotifyUnitOfWork(context().database)


def _policy() -> domain.DeliveryPolicy:
    settings = context().settings
    assert isinstance(settings, NotifySettings), "the notify app runs on NotifySettings"
    return settings.delivery_policy()


def _guard() -> WebhookGuard:
    settings = context().settings
    assert isinstance(settings, NotifySettings), "the notify app runs on NotifySettings"
    return settings.webhook_guard()


@notifications.route("")
class Notifications(MethodView):
    @authenticated()
    @notifications.arguments(schemas.NotificationQuery, location="query", unknown=RAISE)
    @notifications.response(200, schemas.NotificationPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The caller's notifications, newest first: to their member id, and to their org for org roles."""
        return queries.list_notifications(
            context().database, principal, query["unread"], query["limit"], query["cursor"]
        )


@notifications.route("/unread_count")
class UnreadCount(MethodView):
    @authenticated()
    @notifications.response(200, schemas.UnreadCountSchema)
    def get(self, principal: Principal) -> queries.UnreadCount:
        """How many of the caller's notifications are unread."""
        return queries.unread_count(context().database, principal)


@notifications.route("/read-all")
class ReadAll(MethodView):
    @authenticated()
    @notifications.response(200, schemas.UpdatedSchema)
    def post(self, principal: Principal) -> commands.Marked:
        """Mark every unread notification of the caller read; `updated` says how many."""
        return commands.mark_all_read(_uow(), principal, commands.MarkAllRead())


@notifications.route("/read_all")
class ReadAllFormer(MethodView):
    @authenticated()
    @notifications.response(200, schemas.MarkedSchema)
    def post(self, principal: Principal) -> commands.Marked:
        """The former spelling of `read-all`, answering `{marked}` (kept for existing clients)."""
        return commands.mark_all_read(_uow(), principal, commands.MarkAllRead())


@notifications.route("/<string:notification_id>/read")
class NotificationRead(MethodView):
    @authenticated()
    @notifications.response(200, schemas.NotificationSchema)
    def post(self, notification_id: str, principal: Principal) -> queries.NotificationView:
        """Mark one notification read."""
        return commands.mark_read(_uow(), principal, commands.MarkRead(notification_id))


@preferences.route("")
class Preferences(MethodView):
    @authenticated()
    @preferences.response(200, schemas.PreferencesSchema)
    def get(self, principal: Principal) -> domain.Preferences:
        """The caller's preferences (the defaults until they save some)."""
        return queries.get_preferences(context().database, principal)

    @authenticated()
    @preferences.arguments(schemas.PreferencesSchema)
    @preferences.response(200, schemas.PreferencesSchema)
    def put(self, body: domain.Preferences, principal: Principal) -> domain.Preferences:
        """Replace the caller's preferences; org roles receive their org's messages on these channels."""
        return commands.update_preferences(_uow(), principal, commands.UpdatePreferences(body), _guard())


@deliveries.route("")
class Deliveries(MethodView):
    @authenticated("admin", "service")
    @deliveries.arguments(schemas.DeliveryQuery, location="query", unknown=RAISE)
    @deliveries.response(200, schemas.DeliveryPageSchema)
    def get(self, query: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Per-channel delivery status and attempts, e.g. of one event (`?event_id=`)."""
        return queries.list_deliveries(
            context().database, query["event_id"], query["status"], query["limit"], query["cursor"]
        )


@digests.route("")
class Digests(MethodView):
    @authenticated("admin", "service")
    @digests.arguments(schemas.DigestRunSchema)
    @digests.response(200, schemas.DigestResultSchema)
    def post(self, body: dict[str, Any], principal: Principal) -> commands.DigestRun:
        """Send today's (or `date`'s) digest to every org with work waiting; once per org and day."""
        return commands.send_digests(_uow(), commands.SendDigests(body["date"]), _policy())
