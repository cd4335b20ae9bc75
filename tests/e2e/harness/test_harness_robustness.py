"""Malformed input gets the proper JSON-RPC error and the server keeps serving."""

from __future__ import annotations

import base64

import pytest
import requests

from harness.testing import HarnessInfo


def post(harness: HarnessInfo, body) -> requests.Response:
    with requests.Session() as session:
        if isinstance(body, (bytes, str)):
            return session.post(harness.rpc_url, data=body, timeout=5)
        return session.post(harness.rpc_url, json=body, timeout=5)


def rpc(method: str, params) -> dict:
    return {"jsonrpc": "2.0", "id": 3, "method": method, "params": params}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"\xff\xfe", -32700),
        ({"jsonrpc": "1.0", "id": 1, "method": "getSlot"}, -32600),
        ([], -32600),
        (rpc("noSuchMethod", []), -32601),
        (rpc("getBalance", []), -32602),
        (rpc("getBalance", [42]), -32602),
        (rpc("getBalance", ["not-a-key"]), -32602),
        (rpc("getBalance", "oops"), -32600),
        (
            rpc("sendTransaction", [base64.b64encode(b"garbage").decode(), {"encoding": "base64"}]),
            -32602,
        ),
        (rpc("sendTransaction", ["!!!", {"encoding": "base64"}]), -32602),
        (rpc("simulateTransaction", [{"a": 1}]), -32602),
        (rpc("getSignatureStatuses", [["x"]]), -32602),
        (rpc("getMinimumBalanceForRentExemption", [-1]), -32602),
        (rpc("getAccountInfo", ["11111111111111111111111111111111", {"encoding": "zip"}]), -32602),
    ],
)
def test_errors(harness: HarnessInfo, body, code: int) -> None:
    answer = post(harness, body).json()
    assert answer["error"]["code"] == code
    assert answer["jsonrpc"] == "2.0"
    assert post(harness, rpc("getHealth", [])).json()["result"] == "ok"


def test_batch_mixes_results_and_errors(harness: HarnessInfo) -> None:
    answers = post(harness, [rpc("getSlot", []), rpc("nope", []), 5]).json()
    assert "result" in answers[0]
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["error"]["code"] == -32600


@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000, b'{"a":' * 5000 + b"1" + b"}" * 5000])
def test_deeply_nested_json_is_a_parse_error(harness: HarnessInfo, body: bytes) -> None:
    answer = post(harness, body)
    assert answer.status_code == 200
    assert answer.json()["error"]["code"] == -32700
    assert post(harness, rpc("getHealth", [])).json()["result"] == "ok"


@pytest.mark.parametrize("path", ["/_harness/fund", "/_harness/faults", "/_harness/advance"])
def test_deeply_nested_json_on_admin_endpoints_is_a_400(harness: HarnessInfo, path: str) -> None:
    url = harness.rpc_url.rstrip("/") + path
    answer = requests.post(url, data=b"[" * 5000 + b"]" * 5000, timeout=5)
    assert answer.status_code == 400
    assert "JSON" in answer.json()["error"]


def test_deeply_nested_json_to_the_facilitator_is_a_400(harness: HarnessInfo) -> None:
    url = harness.facilitator_url.rstrip("/") + "/verify"
    answer = requests.post(url, data=b"[" * 5000 + b"]" * 5000, timeout=5)
    assert answer.status_code == 400


def test_oversized_body_is_refused(harness: HarnessInfo) -> None:
    response = post(harness, b"[" + b"1," * 400_000 + b"1]")
    assert response.status_code == 413
    assert post(harness, rpc("getHealth", [])).json()["result"] == "ok"


def test_fund_validation(harness: HarnessInfo) -> None:
    with requests.Session() as session:
        url = harness.rpc_url + "/_harness/fund"
        for body in (
            {"address": "nope"},
            {"address": harness.fee_payer, "usdc": "-1"},
            {"address": harness.fee_payer, "usdc": "0.0000001"},
            [1],
        ):
            assert session.post(url, json=body, timeout=5).status_code == 400


def test_tx_view(harness: HarnessInfo) -> None:
    funded = harness.fund(harness.fee_payer, usdc="1")
    with requests.Session() as session:
        view = session.get(harness.rpc_url + "/_harness/tx/" + funded["signatures"][0], timeout=5)
        assert view.json()["meta"]["err"] is None
        assert session.get(harness.rpc_url + "/_harness/tx/nope", timeout=5).status_code == 404
