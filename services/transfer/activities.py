"""Synchronous activities of the transfer service (run on the worker's thread pool); all idempotent."""

from __future__ import annotations

from temporalio import activity


# The smallest activity: lets a probe workflow prove the worker executes activities.
@activity.defn
def echo(text: str) -> str:
    return f"echo: {text}"
