"""Request and response schemas of the notify API."""

from marshmallow import Schema, fields

from shared.pagination import PageQuery, page_schema


class NotificationQuery(PageQuery):
    unread = fields.Boolean(load_default=None)


class NotificationSchema(Schema):
    id = fields.String(required=True)
    event_id = fields.String(required=True)
    type = fields.String(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    read_at = fields.DateTime(allow_none=True, required=True)


NotificationPageSchema = page_schema(NotificationSchema)
