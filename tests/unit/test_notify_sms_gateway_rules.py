"""The SMS gateway's pure parts and its settings: the documented encoding and string to sign,
what `NUANLIU_SMS_PROVIDER=aliyun` needs, and that production builds the gateway channel (and a
webhook channel that refuses plain http at send time)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.processes import settings_of
from services.notify.channels import OutgoingMessage, PermanentFailure
from services.notify.channels.sms import GatewaySmsProvider, SmsChannel, notice_kind
from services.notify.dispatcher import default_channels
from services.notify.settings import NotifySettings
from shared.settings import SettingsError
from shared.sms import canonical_query, percent_encode, string_to_sign

STRONG = "s" * 40
PRODUCTION = {
    "NUANLIU_ENV": "production",
    "AMQP_URL": "amqps://nuanliu:pw@broker.internal:5671/%2F",
    "DATABASE_URL": "postgresql://nuanliu@db.internal/nuanliu",
    "NUANLIU_RATELIMIT_STORAGE": "redis://cache.internal:6379",
    "NUANLIU_WEBHOOK_SECRET": STRONG,
    "NUANLIU_SMTP_HOST": "smtp.example.org",
}
GATEWAY = {
    "NUANLIU_SMS_PROVIDER": "aliyun",
    "NUANLIU_SMS_ACCESS_KEY_ID": "LTAI-key",
    "NUANLIU_SMS_ACCESS_KEY_SECRET": "k" * 30,
    "NUANLIU_SMS_SIGN_NAME": "暖流",
    "NUANLIU_SMS_TEMPLATES": "default=SMS_1, transfer=SMS_2",
}


def test_percent_encoding_is_rfc3986_as_the_signature_needs() -> None:
    assert percent_encode("a b*c~d-e_f.g/h+i=j") == "a%20b%2Ac~d-e_f.g%2Fh%2Bi%3Dj"
    assert percent_encode("暖") == "%E6%9A%96"
    assert canonical_query({"b": "2", "A": "1", "a": "x y"}) == "A=1&a=x%20y&b=2"  # by name, bytewise
    assert string_to_sign("POST", {"Action": "SendSms"}) == "POST&%2F&Action%3DSendSms"


def test_the_gateway_needs_its_keys_sign_name_and_a_default_template(tmp_path: Path) -> None:
    env = {"NUANLIU_VAR_DIR": str(tmp_path)}
    with pytest.raises(SettingsError, match="NUANLIU_SMS_ACCESS_KEY_ID.*NUANLIU_SMS_SIGN_NAME"):
        settings_of("notify", {**env, "NUANLIU_SMS_PROVIDER": "aliyun", "NUANLIU_SMS_ACCESS_KEY_SECRET": "x"})
    with pytest.raises(SettingsError, match="default template"):
        settings_of("notify", {**env, **GATEWAY, "NUANLIU_SMS_TEMPLATES": "transfer=SMS_2"})
    with pytest.raises(SettingsError, match="kind=code"):
        settings_of("notify", {**env, **GATEWAY, "NUANLIU_SMS_TEMPLATES": "default"})
    settings = settings_of("notify", {**env, **GATEWAY})
    assert isinstance(settings, NotifySettings)
    assert settings.sms_template_codes() == {"default": "SMS_1", "transfer": "SMS_2"}
    assert "k" * 30 not in repr(settings)  # the secret never shows in a log of the settings


def test_production_runs_the_gateway_channel_and_https_webhooks_only(tmp_path: Path) -> None:
    settings = settings_of("notify", {**PRODUCTION, **GATEWAY, "NUANLIU_VAR_DIR": str(tmp_path)})
    assert isinstance(settings, NotifySettings) and settings.is_production
    channels = default_channels(settings)
    sms = channels["sms"]
    assert isinstance(sms, SmsChannel) and isinstance(sms.provider, GatewaySmsProvider)
    plain = OutgoingMessage("d", "e", "webhook", "http://93.184.216.34/hook", "t", "b", "queued", 0)
    with pytest.raises(PermanentFailure, match="https"):
        channels["webhook"].send(plain)  # refused at send time too, before any connection


def test_each_kind_of_notice_has_its_template() -> None:
    assert notice_kind("transfer.urged.v1") == "transfer"
    assert notice_kind("registration.dues_recorded.v1") == "registration"
    assert notice_kind("notify.digest") == "digest"
