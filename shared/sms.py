"""An SMS gateway client: Alibaba Cloud Short Message Service (dysmsapi), action `SendSms`.

Shared, so that any service sends SMS the same way (notify's SMS channel now, registration's
one-time codes later). A message is a template approved at the provider (its `TemplateCode`)
with its variables (`TemplateParam`, JSON), under an approved signature (`SignName`).

Requests are RPC style and signed as the provider documents ("Signature method",
www.alibabacloud.com/help/en/sms/signature-method):
1. every parameter but `Signature` (the common ones: `AccessKeyId`, `Action`, `Format`,
   `RegionId`, `SignatureMethod=HMAC-SHA1`, `SignatureNonce`, `SignatureVersion=1.0`,
   `Timestamp` as `YYYY-MM-DDThh:mm:ssZ` in UTC, `Version=2017-05-25`; and `PhoneNumbers`,
   `SignName`, `TemplateCode`, `TemplateParam`), sorted by name, each name and value
   percent-encoded per RFC 3986 (unreserved `A-Za-z0-9-_.~` kept, space as `%20`, never `+`),
   joined as `name=value` with `&`: the canonicalized query string;
2. StringToSign = HTTP method + `&` + percentEncode(`/`) + `&` + percentEncode(that string);
3. Signature = Base64(HMAC-SHA1(key = AccessKeySecret + `&`, StringToSign)), sent as the
   `Signature` parameter.

The answer is JSON: `Code` `OK` with a `BizId` when accepted; otherwise a code saying why.
Throttling and the provider's own faults are worth retrying (`SmsUnavailable`); a refused
number, template or signature, or bad credentials, are not (`SmsRefused`). No phone number
appears in an error message: errors end up in logs and delivery rows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import quote

import requests

API_VERSION = "2017-05-25"
DEFAULT_URL = "https://dysmsapi.aliyuncs.com/"
DEFAULT_REGION = "cn-hangzhou"
# Codes that may pass: flow control and the provider's own errors.
TRANSIENT_CODES = ("isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "Throttling", "ServiceUnavailable")


class SmsError(Exception):
    """The message was not sent."""


class SmsUnavailable(SmsError):
    """Not sent now, may be later: the gateway is unreachable, throttles, or failed itself."""


class SmsRefused(SmsError):
    """Never sendable as asked: the number, template, signature or credentials are refused."""


def percent_encode(text: str) -> str:
    """RFC 3986 encoding as the signature needs it: unreserved characters kept, `%20` for a space."""
    return quote(text, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """The `Signature` of a request's parameters (all but `Signature` itself)."""
    digest = hmac.new(f"{secret}&".encode(), string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class AliyunSmsConfig:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    sign_name: str
    url: str = DEFAULT_URL
    region_id: str = DEFAULT_REGION
    timeout: float = 5.0


class AliyunSmsClient:
    """Sends one templated message per call (`send`); raises SmsUnavailable or SmsRefused."""

    method = "POST"

    def __init__(
        self,
        config: AliyunSmsConfig,
        nonce: Callable[[], str] = lambda: str(uuid.uuid4()),
        clock: Callable[[], str] = _timestamp,
    ) -> None:
        self.config = config
        self._nonce = nonce
        self._clock = clock
        self._session = requests.Session()

    def request_params(
        self, phone: str, template_code: str, template_params: Mapping[str, str], out_id: str | None = None
    ) -> dict[str, str]:
        """Every parameter of a SendSms request, signed."""
        params = {
            "AccessKeyId": self.config.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": phone,
            "RegionId": self.config.region_id,
            "SignName": self.config.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(),
            "SignatureVersion": "1.0",
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(dict(template_params), ensure_ascii=False, separators=(",", ":")),
            "Timestamp": self._clock(),
            "Version": API_VERSION,
        }
        if out_id:
            params["OutId"] = out_id
        params["Signature"] = signature(self.config.access_key_secret, self.method, params)
        return params

    def send(
        self, phone: str, template_code: str, template_params: Mapping[str, str], out_id: str | None = None
    ) -> str:
        """Send; returns the provider's `BizId`."""
        params = self.request_params(phone, template_code, template_params, out_id)
        body = canonical_query(params)  # the same encoding as signed: nothing is re-encoded on the way
        try:
            answer = self._session.post(
                self.config.url,
                data=body.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
                timeout=self.config.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as error:
            raise SmsUnavailable(f"SMS gateway timed out after {self.config.timeout}s") from error
        except requests.RequestException as error:
            raise SmsUnavailable(f"SMS gateway unreachable: {type(error).__name__}") from error
        try:
            result = answer.json()
        except ValueError:
            result = {}
        code = str(result.get("Code") or "") if isinstance(result, dict) else ""
        if answer.status_code == 200 and code == "OK":
            return str(result.get("BizId") or "")
        if answer.status_code >= 500 or answer.status_code == 429 or code in TRANSIENT_CODES:
            raise SmsUnavailable(f"SMS gateway answered {answer.status_code} {code or 'without a code'}")
        raise SmsRefused(f"SMS gateway refused: {answer.status_code} {code or 'without a code'}")


SMS_PROVIDERS = ("file", "aliyun", "disabled")


@dataclass(frozen=True)
class SmsSettings:
    """The SMS knobs of a service that sends SMS (notify's channel, registration's sign-in
    codes): one set of variables, so an installation configures its gateway once. Mixed into a
    service's settings before `Settings` (`class X(SmsSettings, Settings)`)."""

    SMS_ENV: ClassVar[Mapping[str, str]] = {
        "sms_provider": "NUANLIU_SMS_PROVIDER",
        "sms_gateway_url": "NUANLIU_SMS_GATEWAY_URL",
        "sms_access_key_id": "NUANLIU_SMS_ACCESS_KEY_ID",
        "sms_access_key_secret": "NUANLIU_SMS_ACCESS_KEY_SECRET",
        "sms_sign_name": "NUANLIU_SMS_SIGN_NAME",
        "sms_region": "NUANLIU_SMS_REGION",
        "sms_templates": "NUANLIU_SMS_TEMPLATES",
    }
    # The template kinds this service sends and must have a code for when the gateway is on.
    SMS_REQUIRED_TEMPLATES: ClassVar[tuple[str, ...]] = ("default",)

    # `file` (development: a file under var/), `aliyun` (the gateway below), or `disabled`.
    sms_provider: str = "file"
    sms_gateway_url: str = DEFAULT_URL
    sms_access_key_id: str = ""
    sms_access_key_secret: str = field(default="", repr=False)
    sms_sign_name: str = ""
    sms_region: str = DEFAULT_REGION
    # Template codes per kind, `kind=code` comma-separated (e.g. `default=SMS_100,otp=SMS_102`).
    sms_templates: str = ""

    def sms_template_codes(self) -> dict[str, str]:
        """`NUANLIU_SMS_TEMPLATES` as {kind: template code}."""
        codes: dict[str, str] = {}
        for part in self.sms_templates.split(","):
            if not part.strip():
                continue
            kind, sep, code = part.partition("=")
            if not sep or not kind.strip() or not code.strip():
                raise ValueError(f"{part.strip()!r} is not kind=code")
            codes[kind.strip()] = code.strip()
        return codes

    def sms_problems(self) -> list[str]:
        """What makes these SMS settings unusable (checked at start, all named at once)."""
        if self.sms_provider not in SMS_PROVIDERS:
            return [f"NUANLIU_SMS_PROVIDER must be one of {', '.join(SMS_PROVIDERS)}"]
        if self.sms_provider != "aliyun":
            return []
        missing = [
            name
            for name, value in (
                ("NUANLIU_SMS_ACCESS_KEY_ID", self.sms_access_key_id),
                ("NUANLIU_SMS_ACCESS_KEY_SECRET", self.sms_access_key_secret),
                ("NUANLIU_SMS_SIGN_NAME", self.sms_sign_name),
            )
            if not value
        ]
        problems = [f"NUANLIU_SMS_PROVIDER=aliyun needs {', '.join(missing)}"] if missing else []
        try:
            templates = self.sms_template_codes()
        except ValueError as error:
            return [*problems, f"NUANLIU_SMS_TEMPLATES: {error}"]
        problems += [
            f"NUANLIU_SMS_TEMPLATES needs a {kind} template ({kind}=<code>)"
            for kind in self.SMS_REQUIRED_TEMPLATES
            if kind not in templates
        ]
        return problems

    def sms_gateway(self) -> AliyunSmsConfig:
        return AliyunSmsConfig(
            self.sms_access_key_id,
            self.sms_access_key_secret,
            self.sms_sign_name,
            self.sms_gateway_url,
            self.sms_region,
        )
