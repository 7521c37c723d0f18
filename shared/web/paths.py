"""Ids in URL paths are checked at the edge: a malformed one is a 422 naming it, before any view
looks it up or forwards it to another service (security review, finding 7)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Blueprint

from shared.errors import InvalidInput
from shared.web.auth import bearer_principal


def check_path_values(blueprint: Blueprint, patterns: Mapping[str, re.Pattern[str]]) -> None:
    """Every path value named in `patterns` must match its pattern in full."""

    @blueprint.url_value_preprocessor
    def _check(endpoint: str | None, values: dict[str, Any] | None) -> None:
        if bearer_principal() is None:
            return  # the view answers 401 first: who calls comes before what they send
        for name, value in (values or {}).items():
            pattern = patterns.get(name)
            if pattern is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
                raise InvalidInput(f"{name} is not in the format of an id", field=name, location="path")
