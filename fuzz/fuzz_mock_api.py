"""atheris harness: the mock API's payment-header decoders (PAYMENT-SIGNATURE / X-PAYMENT).

    .venv/bin/python fuzz/fuzz_mock_api.py -max_total_time=60

The first byte picks the input's shape: the header value as given, the input
as base64 (a JSON payload, if the fuzzer finds one), or a well-formed v2
payload around the input as its base64 transaction (reaching solders' parser).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(
    include=["mock_premium_api.wire", "mock_premium_api.strict", "mock_premium_api.x402_setup"]
):
    from fuzz import oracles
    from mock_premium_api import x402_setup  # noqa: F401  (instrumented before use)

SELLER = oracles.mock_seller()
ACCEPTED = {
    "scheme": "exact",
    "network": SELLER.config.network,
    "asset": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
    "amount": "10000",
    "payTo": SELLER.config.pay_to,
    "maxTimeoutSeconds": 60,
    "extra": {"feePayer": SELLER.config.pay_to},
}


def one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 3, data[1:]
    if mode == 0:
        raw = rest.decode("utf-8", "replace")
    elif mode == 1:
        raw = base64.b64encode(rest).decode()
    else:
        payload = {
            "x402Version": 2,
            "resource": {"url": "http://127.0.0.1/api/market-feed"},
            "accepted": ACCEPTED,
            "payload": {"transaction": base64.b64encode(rest).decode()},
        }
        raw = oracles.b64_json(payload)
    oracles.check_mock_payment_header(SELLER, raw)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
