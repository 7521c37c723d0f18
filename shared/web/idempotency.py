"""`Idempotency-Key` on POSTs: a repeat with the same key and request answers the first response."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, jsonify, request

from shared.errors import NuanliuError
from shared.idempotency import IdempotencyStore
from shared.web.auth import bearer_principal
from shared.web.context import ServiceContext
from shared.web.errors import error_body

_EXTENSION = "nuanliu_idempotency"


def init_idempotency(app: Flask, service_context: ServiceContext) -> None:
    """Keep POST outcomes by key in the service's own table, when it has one."""
    if service_context.idempotency is not None:
        app.extensions[_EXTENSION] = IdempotencyStore(service_context.database, service_context.idempotency)


def replay_or_begin() -> Response | tuple[Response, int] | None:
    """Before a view: answer a repeat from the store, refuse a reused key, or remember this one."""
    key = request.headers.get("Idempotency-Key")
    store: IdempotencyStore | None = current_app.extensions.get(_EXTENSION)
    if request.method != "POST" or not key or store is None:
        return None
    if len(key) > 200:
        return jsonify(
            error_body(
                422,
                "Idempotency-Key is too long",
                {"headers": {"Idempotency-Key": ["at most 200 characters"]}},
            )
        ), 422
    try:
        principal = bearer_principal()
    except NuanliuError:
        return None  # the view answers 401
    # Keys belong to the caller as they act: the same person acting for another org or role gets
    # their own keys, so a replay never answers with what another of their roles was shown.
    owner = _owner(f"{principal.sub}|{principal.role}|{principal.org}") if principal else "anonymous"
    outcome = store.begin(owner, key, request_fingerprint())
    if outcome.replay is not None:
        status, body = outcome.replay
        response = current_app.response_class(body, status=status, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    if outcome.conflict:
        return jsonify(error_body(409, outcome.conflict)), 409
    g.idempotency = (owner, key)
    return None


def _owner(caller: str) -> str:
    """The caller as the store's 80-character owner column holds it (a digest when longer)."""
    return caller if len(caller) <= 80 else hashlib.sha256(caller.encode()).hexdigest()


def request_fingerprint() -> str:
    """What makes two POSTs "the same request": path, query and body. An upload is fingerprinted
    by its fields and files, not its raw bytes: the multipart boundary differs on every retry."""
    digest = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\0")
    digest.update(urlencode(sorted(request.args.items(multi=True))).encode() + b"\0")
    if request.mimetype == "multipart/form-data":
        digest.update(urlencode(sorted(request.form.items(multi=True))).encode() + b"\0")
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0]):
            digest.update(f"{name}\0{upload.filename}\0".encode())
            digest.update(hashlib.sha256(upload.stream.read()).digest())
            upload.stream.seek(0)
    else:
        digest.update(request.get_data())
    return digest.hexdigest()


def record_outcome(response: Response) -> Response:
    """After a view: keep its answer for repeats (a server failure is let go, so a retry runs)."""
    pending = g.pop("idempotency", None)
    store: IdempotencyStore | None = current_app.extensions.get(_EXTENSION)
    if pending and store:
        owner, key = pending
        if response.status_code >= 500:
            store.abandon(owner, key)
        else:
            store.finish(owner, key, response.status_code, response.get_data())
    return response


# --- items of a batch (POST /transfers/decisions): each item is as safe to retry as the single
# request it stands for. An item's key is the request's key and the item's own key; a batch whose
# items all ended below 500 is stored as any answer is, and one with a failed item lets its key go,
# so its retry runs again and replays the items that were done.


ItemRunner = Callable[[str, bytes, Callable[[], tuple[int, bytes]]], tuple[int, bytes]]


def item_runner() -> ItemRunner:
    """A runner for the items of this request (usable from other threads): each item runs under
    the request's Idempotency-Key and the item's own key, or replays its first outcome.

    The runner takes the item's key, its fingerprint (a different item under the same keys is a
    409) and the item's work, which answers (status, JSON body)."""
    pending = g.get("idempotency")
    store: IdempotencyStore | None = current_app.extensions.get(_EXTENSION)

    def run_once(item_key: str, item: bytes, run: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes]:
        if not pending or store is None:
            return run()
        owner, key = pending
        item_store_key = hashlib.sha256(f"{key}\0{item_key}".encode()).hexdigest()
        outcome = store.begin(owner, item_store_key, hashlib.sha256(item).hexdigest())
        if outcome.replay is not None:
            return outcome.replay
        if outcome.conflict:
            return 409, json.dumps(error_body(409, outcome.conflict)).encode()
        try:
            status, body = run()
        except BaseException:
            store.abandon(owner, item_store_key)
            raise
        if status >= 500:
            store.abandon(owner, item_store_key)
        else:
            store.finish(owner, item_store_key, status, body)
        return status, body

    return run_once


def release_request_key() -> None:
    """Let this request's Idempotency-Key go, as a 5xx does: its retry runs again."""
    pending = g.pop("idempotency", None)
    store: IdempotencyStore | None = current_app.extensions.get(_EXTENSION)
    if pending and store:
        store.abandon(*pending)
