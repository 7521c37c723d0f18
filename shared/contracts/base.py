"""The base schema of event data: tolerant readers, strict writers are the publishers' job."""

from marshmallow import INCLUDE, Schema


class EventData(Schema):
    class Meta:
        unknown = INCLUDE
