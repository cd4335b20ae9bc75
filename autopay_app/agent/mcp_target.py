"""Paid MCP tool calls as URLs: ``mcp+http://host:port/path#tool?args={...}``.

A tool call the agent pays is named by one URL, so every step that works on a
request's URL (the ledger row, the policy's host check, Phase 2's stored
approval, "never pay twice for one URL") works on it unchanged. The part before
``#`` is the MCP server's streamable HTTP endpoint (``mcp+http`` or
``mcp+https``); the fragment names the tool and, after ``?args=``, its
arguments as canonical JSON (sorted keys, no spaces). :func:`tool_url` builds
one; :func:`parse` reads one back.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from autopay_app.agent.errors import PolicyDenied

SCHEMES = ("mcp+http", "mcp+https")
ARGS = "?args="
TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


@dataclass(frozen=True)
class McpTarget:
    """One MCP tool call: the server's HTTP endpoint, the tool and its arguments."""

    endpoint: str
    tool: str
    arguments: dict[str, Any]

    @property
    def canonical_arguments(self) -> str:
        return canonical(self.arguments)

    @property
    def arguments_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the arguments."""
        return hashlib.sha256(self.canonical_arguments.encode()).hexdigest()


def canonical(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def is_mcp(url: str) -> bool:
    return urlsplit(url).scheme.lower() in SCHEMES


def tool_url(server: str, tool: str, arguments: dict[str, Any] | None = None) -> str:
    """The URL of calling ``tool`` with ``arguments`` on the MCP server at ``server``
    (``http(s)://host:port/path`` or already ``mcp+http(s)://...``).

    Raises:
        PolicyDenied: ``server`` is not an http(s) URL, or ``tool`` is not a tool name.
    """
    base = server if is_mcp(server) else f"mcp+{server}"
    url = f"{base.split('#', 1)[0]}#{tool}"
    if arguments:
        url += ARGS + quote(canonical(arguments), safe='{}[]":,')
    parse(url)
    return url


def parse(url: str) -> McpTarget:
    """The tool call ``url`` names.

    Raises:
        PolicyDenied: Not an ``mcp+http(s)://host/path#tool`` URL, or arguments that are
            not a JSON object.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES or not parts.netloc:
        raise PolicyDenied(f"not an MCP tool URL (mcp+http://host:port/path#tool): {url!r}")
    tool, _, raw_args = parts.fragment.partition(ARGS)
    tool = unquote(tool)
    if not TOOL_NAME.fullmatch(tool):
        raise PolicyDenied(f"the MCP URL names no valid tool after '#': {url!r}")
    arguments: Any = {}
    if raw_args:
        try:
            arguments = json.loads(unquote(raw_args))
        except json.JSONDecodeError as exc:
            raise PolicyDenied(f"the tool arguments are not JSON: {exc}") from None
    if not isinstance(arguments, dict):
        raise PolicyDenied("the tool arguments must be a JSON object")
    scheme = parts.scheme.lower().removeprefix("mcp+")
    endpoint = f"{scheme}://{parts.netloc}{parts.path or '/mcp'}"
    return McpTarget(endpoint, tool, arguments)
