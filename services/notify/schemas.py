"""Request and response schemas of the notify API (they make the OpenAPI document)."""

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, post_load, validate, validates_schema

from services.notify.domain import (
    CLOCK_ERROR,
    CLOCK_PATTERN,
    CONTACT_FIELD,
    LOCALES,
    STATUSES,
    Channels,
    Preferences,
    QuietHours,
)
from shared.pagination import PageQuery, page_schema

CLOCK = validate.Regexp(CLOCK_PATTERN, error=CLOCK_ERROR)


class NotificationQuery(PageQuery):
    unread = fields.Boolean(load_default=None)


class RefSchema(Schema):
    type = fields.String(required=True, metadata={"description": "transfer, task, member or org"})
    id = fields.String(required=True)


class NotificationSchema(Schema):
    id = fields.String(required=True)
    event_id = fields.String(required=True)
    type = fields.String(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    read_at = fields.DateTime(allow_none=True, required=True)
    link = fields.String(
        allow_none=True, required=True, metadata={"description": "The console path of the subject"}
    )
    ref = fields.Nested(RefSchema, allow_none=True, required=True)
    action_required = fields.Boolean(required=True)
    resolved_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When anyone took the action asked for"}
    )


NotificationPageSchema = page_schema(NotificationSchema)


class UnreadCountSchema(Schema):
    unread = fields.Integer(required=True)


class MarkedSchema(Schema):
    marked = fields.Integer(required=True)


class UpdatedSchema(Schema):
    updated = fields.Integer(required=True)


class ChannelsSchema(Schema):
    inapp = fields.Boolean(load_default=True)
    sms = fields.Boolean(load_default=False)
    email = fields.Boolean(load_default=False)
    webhook = fields.Boolean(load_default=False)


class QuietHoursSchema(Schema):
    start = fields.String(required=True, validate=CLOCK)
    end = fields.String(required=True, validate=CLOCK)

    @validates_schema
    def _not_empty(self, data: dict[str, str], **_kwargs: object) -> None:
        if data["start"] == data["end"]:
            raise ValidationError("must differ from start", field_name="end")


class PreferencesSchema(Schema):
    """`email`, `phone` and `webhook_url` are the addresses the channels use."""

    channels = fields.Nested(ChannelsSchema, required=True)
    quiet_hours = fields.Nested(QuietHoursSchema, allow_none=True, load_default=None)
    locale = fields.String(load_default="zh-CN", validate=validate.OneOf(LOCALES))
    email = fields.Email(allow_none=True, load_default=None, validate=validate.Length(max=254))
    phone = fields.String(
        allow_none=True,
        load_default=None,
        validate=validate.Regexp(r"^\+?\d{6,15}$", error="must be 6-15 digits"),
    )
    webhook_url = fields.Url(
        allow_none=True,
        load_default=None,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=500),
    )

    webhook_secret = fields.String(
        dump_only=True,
        metadata={"description": "Signs your webhooks; in the answer to the PUT that sets a new URL only."},
    )

    @post_dump
    def _secret_only_when_made(self, data: dict[str, Any], **_kwargs: object) -> dict[str, Any]:
        if data.get("webhook_secret") is None:
            data.pop("webhook_secret", None)
        return data

    @validates_schema
    def _addresses_for_channels(self, data: dict[str, Any], **_kwargs: object) -> None:
        # A channel without an address could never deliver: say so now, not at the first event.
        # (SMS is checked by the use case: a member's goes to their registered phone.)
        channels: dict[str, bool] = data.get("channels") or {}
        missing = {
            field: [f"required when channels.{channel} is true"]
            for channel, field in CONTACT_FIELD.items()
            if channel != "sms" and channels.get(channel) and not data.get(field)
        }
        if missing:
            raise ValidationError(missing)

    @post_load
    def _preferences(self, data: dict[str, Any], **_kwargs: object) -> Preferences:
        quiet = data["quiet_hours"]
        return Preferences(
            channels=Channels(**data["channels"]),
            quiet_hours=QuietHours(quiet["start"], quiet["end"]) if quiet else None,
            locale=data["locale"],
            email=data["email"],
            phone=data["phone"],
            webhook_url=data["webhook_url"],
        )


class DeliveryQuery(PageQuery):
    event_id = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class DeliverySchema(Schema):
    id = fields.String(required=True)
    event_id = fields.String(required=True)
    notification_id = fields.String(required=True)
    person = fields.String(required=True)
    channel = fields.String(required=True)
    status = fields.String(required=True)
    attempts = fields.Integer(required=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    fallback_for = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


DeliveryPageSchema = page_schema(DeliverySchema)


class DigestRunSchema(Schema):
    date = fields.Date(load_default=None)


class DigestResultSchema(Schema):
    date = fields.Date(required=True)
    digests = fields.Integer(required=True)
