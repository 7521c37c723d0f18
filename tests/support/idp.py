"""The development OpenID provider (deploy/idp, node + oidc-provider) for tests, and a sign-in
through it as a browser would: authorization code with PKCE, the password form, the token call."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlparse

import requests

from shared.settings import PROJECT_ROOT

IDP_DIR = PROJECT_ROOT / "deploy" / "idp"
CLIENT_ID = "nuanliu-console"
CLIENT_SECRET = "dev-console-oidc-secret"
PASSWORD = "nuanliu-demo"


@dataclass(frozen=True)
class Idp:
    issuer: str
    redirect_uri: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_idp(redirect_uri: str, port: int | None = None) -> Iterator[Idp]:
    if shutil.which("node") is None:
        raise RuntimeError("node is needed for the development OpenID provider")
    if not (IDP_DIR / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=IDP_DIR, check=True)
    port = port or free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NUANLIU_IDP_PORT": str(port), "NUANLIU_IDP_REDIRECT_URIS": redirect_uri}
    process = subprocess.Popen(
        ["node", str(IDP_DIR / "server.js")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the development OpenID provider did not start")
            time.sleep(0.2)
        yield Idp(issuer, redirect_uri)
    finally:
        process.terminate()
        process.wait(timeout=10)


def id_token_for(idp: Idp, login: str, password: str = PASSWORD) -> str:
    """Sign in at the provider as `login` and return the ID token the console would receive."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    session = requests.Session()
    answer = session.get(
        f"{idp.issuer}/auth",
        params={
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": "openid profile",
            "redirect_uri": idp.redirect_uri,
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=True,
    )
    answer.raise_for_status()
    action = answer.url.split("?")[0].rstrip("/") + "/login"
    answer = session.post(action, data={"login": login, "password": password}, allow_redirects=False)
    while answer.status_code in (302, 303) and not answer.headers["Location"].startswith(idp.redirect_uri):
        answer = session.get(urljoin(answer.url, answer.headers["Location"]), allow_redirects=False)
    if answer.status_code not in (302, 303):
        raise PermissionError(f"sign-in refused ({answer.status_code}): {answer.text[:200]}")
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{idp.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": idp.redirect_uri,
            "code_verifier": verifier,
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    tokens.raise_for_status()
    return str(tokens.json()["id_token"])
