"""atheris harness: the agent's 402 parser, receipt and failure-reason decoders.

    .venv/bin/python fuzz/fuzz_gateway.py -max_total_time=60

The input's first byte picks where the rest goes (PAYMENT-REQUIRED header as
given, as base64, or the JSON body); ``fuzz.oracles`` says what may come out.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports(include=["autopay_app.agent.gateway", "fuzz"]):
    from fuzz import oracles


def one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 4, data[1:]
    text = rest.decode("utf-8", "replace")
    if mode == 0:
        headers = {"PAYMENT-REQUIRED": text}
    elif mode == 1:
        headers = {"PAYMENT-REQUIRED": base64.b64encode(rest).decode()}
    elif mode == 2:
        headers = {"PAYMENT-RESPONSE": base64.b64encode(rest).decode()}
    else:
        headers = {}
    oracles.check_gateway(headers, rest)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
