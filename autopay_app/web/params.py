"""Query-string parsing shared by the pages and the JSON API.

Every parser raises :class:`BadParameter` naming the parameter, which both
blueprints turn into a 400 (a JSON body for the API, a page for the dashboard).
"""

from __future__ import annotations

import base64
import binascii
import enum
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypeVar

from werkzeug.exceptions import BadRequest

E = TypeVar("E", bound=enum.Enum)
MAX_LIMIT = 200


class BadParameter(BadRequest):
    """A query parameter or body field is malformed (400)."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.parameter = name


def _raw(args: Mapping[str, str], name: str) -> str | None:
    value = args.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def uuid_param(args: Mapping[str, str], name: str) -> uuid.UUID | None:
    raw = _raw(args, name)
    if raw is None:
        return None
    return parse_uuid(raw, name)


def parse_uuid(raw: str, name: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except (ValueError, AttributeError, TypeError):
        raise BadParameter(name, f"not a UUID: {raw!r}") from None


def enum_param(args: Mapping[str, str], name: str, kind: type[E]) -> E | None:
    raw = _raw(args, name)
    if raw is None:
        return None
    return parse_enum(raw, name, kind)


def parse_enum(raw: str, name: str, kind: type[E]) -> E:
    try:
        return kind(raw.upper())
    except (ValueError, AttributeError):
        allowed = ", ".join(str(m.value) for m in kind)
        raise BadParameter(name, f"must be one of {allowed}; got {raw!r}") from None


def datetime_param(args: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 date or date-time; a naive value is taken as UTC."""
    raw = _raw(args, name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise BadParameter(name, f"not an ISO 8601 date-time: {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def text_param(args: Mapping[str, str], name: str, max_length: int = 200) -> str | None:
    raw = _raw(args, name)
    if raw is not None and len(raw) > max_length:
        raise BadParameter(name, f"longer than {max_length} characters")
    return raw


def limit_param(args: Mapping[str, str], default: int = 50) -> int:
    raw = _raw(args, "limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter("limit", f"not a whole number: {raw!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise BadParameter("limit", f"must be between 1 and {MAX_LIMIT}, got {value}")
    return value


def encode_cursor(created_at: datetime, key: uuid.UUID) -> str:
    """An opaque page cursor for the row ``(created_at, key)``."""
    raw = f"{created_at.isoformat()}|{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_param(args: Mapping[str, str]) -> tuple[datetime, uuid.UUID] | None:
    raw = _raw(args, "cursor")
    if raw is None:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        stamp, _, key = text.partition("|")
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("naive cursor")
        return when, uuid.UUID(key)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadParameter("cursor", "not a cursor returned by this API") from None


def page_cursor(rows: list, limit: int, key) -> str | None:  # type: ignore[no-untyped-def,type-arg]
    """The next cursor when ``rows`` (fetched with ``limit + 1``) has another page."""
    if len(rows) <= limit:
        return None
    created_at, ident = key(rows[limit - 1])
    return encode_cursor(created_at, ident)
