"""The replay / idempotency ledger, including under concurrency."""

from __future__ import annotations

import threading

from mock_premium_api.ledger import Decision, PaymentLedger, StoredResponse

RESPONSE = StoredResponse("200 OK", [("Content-Type", "application/json")], b"{}")
RECEIPT = [("PAYMENT-RESPONSE", "abc")]


def test_new_payment_proceeds_then_duplicates_are_refused():
    ledger = PaymentLedger()
    assert ledger.claim("k", "/a", None)[0] is Decision.PROCEED
    assert ledger.claim("k", "/a", None)[0] is Decision.IN_FLIGHT
    ledger.settle("k", "tx1", RECEIPT, delivered=True, response=None)
    decision, record = ledger.claim("k", "/a", None)
    assert decision is Decision.DUPLICATE
    assert record.transaction == "tx1"


def test_released_claim_can_be_tried_again():
    ledger = PaymentLedger()
    ledger.claim("k", "/a", None)
    ledger.release("k")
    assert ledger.claim("k", "/a", None)[0] is Decision.PROCEED


def test_only_one_of_many_concurrent_claims_proceeds():
    ledger = PaymentLedger()
    barrier = threading.Barrier(32)
    decisions: list[Decision] = []

    def claim() -> None:
        barrier.wait()
        decisions.append(ledger.claim("same", "/a", None)[0])

    threads = [threading.Thread(target=claim) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert decisions.count(Decision.PROCEED) == 1
    assert decisions.count(Decision.IN_FLIGHT) == 31


def test_undelivered_payment_is_redelivered_once_on_the_same_path():
    ledger = PaymentLedger()
    ledger.claim("k", "/a", None)
    ledger.settle("k", "tx1", RECEIPT, delivered=False, response=None)
    assert ledger.claim("k", "/b", None)[0] is Decision.DUPLICATE
    decision, record = ledger.claim("k", "/a", None)
    assert decision is Decision.REDELIVER
    assert record.receipt_headers == RECEIPT
    assert ledger.claim("k", "/a", None)[0] is Decision.DUPLICATE
    ledger.mark_undelivered("k")  # the redelivery failed too
    assert ledger.claim("k", "/a", None)[0] is Decision.REDELIVER


def test_receipt_redemption():
    ledger = PaymentLedger()
    ledger.claim("k", "/a", None)
    ledger.settle("k", "tx1", RECEIPT, delivered=False, response=None)
    assert ledger.redeem_receipt("tx1", "/b") is None
    assert ledger.redeem_receipt("unknown", "/a") is None
    assert ledger.redeem_receipt("tx1", "/a").key == "k"
    assert ledger.redeem_receipt("tx1", "/a") is None


def test_payment_identifier_returns_cached_response_for_any_payload():
    ledger = PaymentLedger()
    assert ledger.claim("k1", "/a", "order_0123456789abcdef")[0] is Decision.PROCEED
    assert ledger.claim("k2", "/a", "order_0123456789abcdef")[0] is Decision.IN_FLIGHT
    ledger.settle("k1", "tx1", RECEIPT, delivered=True, response=RESPONSE)
    decision, record = ledger.claim("k2", "/a", "order_0123456789abcdef")
    assert decision is Decision.CACHED
    assert record.response == RESPONSE
    assert ledger.claim("k3", "/b", "order_0123456789abcdef")[0] is Decision.ID_CONFLICT


def test_ledger_is_bounded_oldest_first():
    ledger = PaymentLedger(max_records=3)
    for i in range(5):
        ledger.claim(f"k{i}", "/a", None)
        ledger.settle(f"k{i}", f"tx{i}", RECEIPT, delivered=False, response=None)
    assert ledger.claim("k0", "/a", None)[0] is Decision.PROCEED
    assert ledger.redeem_receipt("tx1", "/a") is None
    assert ledger.redeem_receipt("tx4", "/a") is not None
