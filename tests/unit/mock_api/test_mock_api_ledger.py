"""The replay / idempotency ledger, including under concurrency."""

from __future__ import annotations

import threading

from mock_premium_api.ledger import Claim, Decision, PaymentLedger, StoredResponse

RESPONSE = StoredResponse("200 OK", [("Content-Type", "application/json")], b"{}")
RECEIPT = [("PAYMENT-RESPONSE", "abc")]
ORDER = "order_0123456789abcdef"


def claim(key: str, path: str = "/a", payment_id: str | None = None, **binding: str) -> Claim:
    """A claim whose payload fingerprint and payer default to ones derived from ``key``."""
    binding.setdefault("fingerprint", "fp-" + key)
    binding.setdefault("payer", "payer-A")
    return Claim(key, path, payment_id, **binding)


def test_new_payment_proceeds_then_duplicates_are_refused():
    ledger = PaymentLedger()
    assert ledger.claim(claim("k", "/a"))[0] is Decision.PROCEED
    assert ledger.claim(claim("k", "/a"))[0] is Decision.IN_FLIGHT
    ledger.settle("k", "tx1", RECEIPT, delivered=True, response=None)
    decision, record = ledger.claim(claim("k", "/a"))
    assert decision is Decision.DUPLICATE
    assert record.transaction == "tx1"


def test_released_claim_can_be_tried_again():
    ledger = PaymentLedger()
    ledger.claim(claim("k", "/a"))
    ledger.release("k")
    assert ledger.claim(claim("k", "/a"))[0] is Decision.PROCEED


def test_only_one_of_many_concurrent_claims_proceeds():
    ledger = PaymentLedger()
    barrier = threading.Barrier(32)
    decisions: list[Decision] = []

    def race() -> None:
        barrier.wait()
        decisions.append(ledger.claim(claim("same", "/a"))[0])

    threads = [threading.Thread(target=race) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert decisions.count(Decision.PROCEED) == 1
    assert decisions.count(Decision.IN_FLIGHT) == 31


def test_undelivered_payment_is_redelivered_once_on_the_same_path():
    ledger = PaymentLedger()
    ledger.claim(claim("k", "/a"))
    ledger.settle("k", "tx1", RECEIPT, delivered=False, response=None)
    assert ledger.claim(claim("k", "/b"))[0] is Decision.DUPLICATE
    decision, record = ledger.claim(claim("k", "/a"))
    assert decision is Decision.REDELIVER
    assert record.receipt_headers == RECEIPT
    assert ledger.claim(claim("k", "/a"))[0] is Decision.DUPLICATE
    ledger.mark_undelivered("k")  # the redelivery failed too
    assert ledger.claim(claim("k", "/a"))[0] is Decision.REDELIVER


def test_receipt_redemption():
    ledger = PaymentLedger()
    ledger.claim(claim("k", "/a"))
    ledger.settle("k", "tx1", RECEIPT, delivered=False, response=None)
    assert ledger.redeem_receipt("tx1", "/b") is None
    assert ledger.redeem_receipt("unknown", "/a") is None
    assert ledger.redeem_receipt("tx1", "/a").key == "k"
    assert ledger.redeem_receipt("tx1", "/a") is None


def test_payment_identifier_returns_cached_response_only_for_the_same_payload():
    ledger = PaymentLedger()
    assert ledger.claim(claim("k1", payment_id=ORDER))[0] is Decision.PROCEED
    assert ledger.claim(claim("k1", payment_id=ORDER))[0] is Decision.IN_FLIGHT
    ledger.settle("k1", "tx1", RECEIPT, delivered=True, response=RESPONSE)
    decision, record = ledger.claim(claim("k1", payment_id=ORDER))
    assert decision is Decision.CACHED
    assert record.response == RESPONSE
    assert ledger.claim(claim("k1", "/b", ORDER))[0] is Decision.ID_CONFLICT


def test_payment_identifier_with_another_payload_is_a_conflict():
    ledger = PaymentLedger()
    ledger.claim(claim("k1", payment_id=ORDER))
    assert ledger.claim(claim("k2", payment_id=ORDER))[0] is Decision.ID_CONFLICT  # in flight
    ledger.settle("k1", "tx1", RECEIPT, delivered=True, response=RESPONSE)
    others = [
        claim("k2", payment_id=ORDER),  # a new transaction
        claim("k1", payment_id=ORDER, fingerprint="fp-resigned"),  # other signatures
        claim("k1", payment_id=ORDER, payer="payer-B"),  # another payer
    ]
    for other in others:
        assert ledger.claim(other)[0] is Decision.ID_CONFLICT


def test_undelivered_payment_is_redelivered_only_to_the_same_payload():
    ledger = PaymentLedger()
    ledger.claim(claim("k"))
    ledger.settle("k", "tx1", RECEIPT, delivered=False, response=None)
    assert ledger.claim(claim("k", fingerprint="fp-corrupted"))[0] is Decision.DUPLICATE
    assert ledger.claim(claim("k"))[0] is Decision.REDELIVER


def test_ledger_is_bounded_oldest_first():
    ledger = PaymentLedger(max_records=3)
    for i in range(5):
        ledger.claim(claim(f"k{i}"))
        ledger.settle(f"k{i}", f"tx{i}", RECEIPT, delivered=False, response=None)
    assert ledger.claim(claim("k0", "/a"))[0] is Decision.PROCEED
    assert ledger.redeem_receipt("tx1", "/a") is None
    assert ledger.redeem_receipt("tx4", "/a") is not None
