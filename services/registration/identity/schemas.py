"""Request and response schemas of the identity endpoints."""

from marshmallow import Schema, fields, validate

from services.registration.identity.tokens import ID_TOKEN_TYPE, TOKEN_EXCHANGE
from services.registration.schemas import org_code

STAFF_ROLES = ("branch_secretary", "township_officer", "org_department")
GRANT_TYPES = (TOKEN_EXCHANGE, "sms_otp", "client_credentials")


class StaffCreateSchema(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))


class StaffSchema(Schema):
    id = fields.String(required=True)
    org_code = fields.String(required=True)
    subject = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)


class StaffListSchema(Schema):
    items = fields.List(fields.Nested(StaffSchema), required=True)


class TokenRequestSchema(Schema):
    grant_type = fields.String(required=True, validate=validate.OneOf(GRANT_TYPES))
    # token exchange
    subject_token = fields.String(validate=validate.Length(min=1, max=16384))
    subject_token_type = fields.String(validate=validate.Equal(ID_TOKEN_TYPE))
    # Which of the person's roles to act in (the console lets a person with several choose).
    org = fields.String(validate=org_code)
    role = fields.String(validate=validate.OneOf(STAFF_ROLES + ("admin",)))
    # sms_otp
    phone = fields.String(validate=validate.Length(min=1, max=20))
    code = fields.String(validate=validate.Regexp(r"^\d{6}$", error="must be 6 digits"))
    # client_credentials
    client_id = fields.String(validate=validate.Length(min=1, max=80))
    client_secret = fields.String(validate=validate.Length(min=1, max=512))


class RoleChoiceSchema(Schema):
    org = fields.String(required=True)
    org_name = fields.String()
    role = fields.String(required=True)
    name = fields.String()


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    # Token exchange only: every role the person holds, so the console can offer the choice.
    roles = fields.List(fields.Nested(RoleChoiceSchema))


class OtpRequestSchema(Schema):
    phone = fields.String(required=True, validate=validate.Length(min=1, max=20))


class OtpAcceptedSchema(Schema):
    status = fields.String(required=True)

