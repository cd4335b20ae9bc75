"""Serving the paid MCP tools (:mod:`.mcp_tools`) over streamable HTTP at ``/mcp``.

``autopay mock-api --mcp`` starts this beside the HTTP API (a process of its
own: MCP's streamable HTTP is ASGI, served by uvicorn, while the API runs under
gunicorn); ``python -m mock_premium_api.mcp_serve`` starts it alone. It prints
``MOCK API MCP READY {"url": ..., "pay_to": ..., "pid": ...}`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys

from .accounts import SellerAccountError, ensure_seller_accounts
from .config import ConfigError, load_config
from .faults import FaultState
from .headers import AsgiSecurityHeaders
from .market import MarketModel
from .mcp_tools import build
from .server import watch_parent
from .x402_setup import Seller

READY_PREFIX = "MOCK API MCP READY "
DEFAULT_PORT = 8404


def serve(host: str, port: int, parent_pid: int | None, check_accounts: bool = True) -> None:
    """Listen on ``host:port`` (0: a free port) until SIGTERM or the parent is gone.

    Raises:
        ConfigError: The configuration is invalid.
        SellerAccountError: The seller's token accounts are missing (and cannot be made).
        OSError: The address cannot be bound.
    """
    import uvicorn

    config = load_config()
    if check_accounts:
        ensure_seller_accounts(config)
    faults = FaultState()
    faults.update(config.faults)
    server = build(Seller(config, faults), MarketModel(config.seed))
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    app = AsgiSecurityHeaders(server.streamable_http_app(host=host))
    web = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    url = f"http://[{host}]:{bound}/mcp" if ":" in host else f"http://{host}:{bound}/mcp"
    if parent_pid is not None:
        watch_parent(parent_pid)
    ready = {"url": url, "pay_to": config.pay_to, "pid": os.getpid()}
    print(READY_PREFIX + json.dumps(ready), flush=True)
    asyncio.run(web.serve(sockets=[sock]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mock_premium_api.mcp_serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--no-account-check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, args.parent_pid, not args.no_account_check)
    except (ConfigError, SellerAccountError) as error:
        print(f"mock-api mcp: {error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:
        print(f"mock-api mcp: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
