"""A local SMS gateway that checks each request as Alibaba Cloud's SendSms documents it (its own
implementation of the signature, not the client's), and answers as the provider would: accepted,
throttled, failing, or refusing. Shared by notify's SMS channel tests and registration's
sign-in code tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote

KEY_ID, KEY_SECRET, SIGN_NAME = "LTAI-test-key", "test-secret/with+odd=chars", "暖流"
REQUIRED = {
    "AccessKeyId", "Action", "Format", "PhoneNumbers", "RegionId", "SignName", "Signature", "SignatureMethod",
    "SignatureNonce", "SignatureVersion", "TemplateCode", "TemplateParam", "Timestamp", "Version",
}  # fmt: skip


def documented_encode(text: str) -> str:
    # As the provider's signature page says: URL-encode in UTF-8, then "+" → "%20", "*" → "%2A",
    # "%7E" → "~" (written out step by step, independent of the client's code).
    return quote(text, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def documented_signature(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(
        f"{documented_encode(k)}={documented_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    to_sign = method + "&" + documented_encode("/") + "&" + documented_encode(canonical)
    return base64.b64encode(
        hmac.new((KEY_SECRET + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    ).decode()


class Gateway(BaseHTTPRequestHandler):
    """Checks each SendSms request; `script` lists the answers to give (then OK)."""

    accepted: list[dict[str, str]] = []
    refused: list[str] = []
    nonces: set[str] = set()
    script: list[tuple[int, str]] = []
    # The approved templates: code → the variables its text has.
    templates: dict[str, set[str]] = {}

    def log_message(self, *_args: object) -> None:
        pass

    def _answer(self, status: int, code: str) -> None:
        body = json.dumps({"Code": code, "Message": code, "RequestId": "r-1", "BizId": "b-1"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode()
        params = dict(parse_qsl(raw, keep_blank_values=True))
        problem = self._check(params)
        if problem:
            Gateway.refused.append(problem)
            return self._answer(400, problem)
        if Gateway.script:
            status, code = Gateway.script.pop(0)
            return self._answer(status, code)
        Gateway.accepted.append(params)
        return self._answer(200, "OK")

    def _check(self, params: dict[str, str]) -> str | None:
        if set(params) - {"OutId"} != REQUIRED:
            return f"MissingParameter {sorted(REQUIRED ^ (set(params) - {'OutId'}))}"
        expected = {
            "AccessKeyId": KEY_ID,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": "cn-hangzhou",
            "SignName": SIGN_NAME,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "Version": "2017-05-25",
        }
        wrong = [k for k, v in expected.items() if params[k] != v]
        if wrong:
            return f"InvalidParameter {wrong}"
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", params["Timestamp"]):
            return "InvalidTimeStamp.Format"
        sent = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - sent).total_seconds()) > 900:
            return "InvalidTimeStamp.Expired"
        if params["SignatureNonce"] in Gateway.nonces:
            return "SignatureNonceUsed"
        Gateway.nonces.add(params["SignatureNonce"])
        if params["Signature"] != documented_signature("POST", params):
            return "SignatureDoesNotMatch"
        if params["TemplateCode"] not in Gateway.templates:
            return "isv.SMS_TEMPLATE_ILLEGAL"
        if not re.fullmatch(r"1\d{10}", params["PhoneNumbers"]):
            return "isv.MOBILE_NUMBER_ILLEGAL"
        variables = json.loads(params["TemplateParam"])
        if set(variables) != Gateway.templates[params["TemplateCode"]] or any(
            len(v) > 35 for v in variables.values()
        ):
            return "isv.TEMPLATE_PARAMS_ILLEGAL"
        return None


@contextmanager
def running_gateway(templates: dict[str, set[str]]) -> Iterator[str]:
    """The gateway on a free port, knowing `templates`; yields its URL."""
    Gateway.accepted, Gateway.refused, Gateway.nonces, Gateway.script = [], [], set(), []
    Gateway.templates = templates
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
