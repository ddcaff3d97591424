"""The simulated wallet acquirer: approvals, declines, timeouts, idempotent references and refunds."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.tenders import WalletProvider
from edge_agent.payments import Approval, Decline, PaymentRefused, PaymentTimeout, SimulatedAcquirer

WECHAT_OK = "134567890123456789"
ALIPAY_OK = "28765432109876543"
WECHAT_EXPIRED = "134567890123450000"
WECHAT_BROKE = "134567890123451111"
WECHAT_SLOW = "134567890123450408"


def test_a_valid_code_is_approved_with_a_transaction_id(acquirer: SimulatedAcquirer) -> None:
    answer = acquirer.authorise(WalletProvider.WECHAT_PAY, WECHAT_OK, 4500, "MXN", "sale-1.a")
    assert isinstance(answer, Approval)
    assert answer.approved and answer.transaction_id.startswith("SIM")
    other = acquirer.authorise(WalletProvider.ALIPAY, ALIPAY_OK, 4500, "MXN", "sale-2.a")
    assert isinstance(other, Approval) and other.transaction_id != answer.transaction_id


@pytest.mark.parametrize(
    ("code", "amount", "reason"),
    [
        (WECHAT_EXPIRED, 100, "code_expired"),
        (WECHAT_BROKE, 100, "insufficient_funds"),
        (WECHAT_OK, 900_000, "over_limit"),
    ],
)
def test_declines_carry_a_reason(acquirer: SimulatedAcquirer, code: str, amount: int, reason: str) -> None:
    answer = acquirer.authorise(WalletProvider.WECHAT_PAY, code, amount, "MXN", "ref-1")
    assert isinstance(answer, Decline)
    assert not answer.approved and answer.reason == reason and answer.message


def test_the_same_reference_never_charges_twice(acquirer: SimulatedAcquirer) -> None:
    first = acquirer.authorise(WalletProvider.WECHAT_PAY, WECHAT_OK, 4500, "MXN", "sale-1.a")
    again = acquirer.authorise(WalletProvider.WECHAT_PAY, WECHAT_OK, 4500, "MXN", "sale-1.a")
    assert again == first
    with pytest.raises(PaymentRefused, match="already used"):
        acquirer.authorise(WalletProvider.WECHAT_PAY, WECHAT_OK, 9999, "MXN", "sale-1.a")


def test_a_timeout_is_answered_on_the_retry_with_the_same_reference(acquirer: SimulatedAcquirer) -> None:
    with pytest.raises(PaymentTimeout):
        acquirer.authorise(WalletProvider.WECHAT_PAY, WECHAT_SLOW, 4500, "MXN", "sale-3.a")
    answer = acquirer.authorise(WalletProvider.WECHAT_PAY, WECHAT_SLOW, 4500, "MXN", "sale-3.a")
    assert isinstance(answer, Approval)
    assert acquirer.authorisations == 2


def test_a_code_of_the_other_provider_or_a_card_number_is_refused(acquirer: SimulatedAcquirer) -> None:
    with pytest.raises(PaymentRefused, match="alipay"):
        acquirer.authorise(WalletProvider.WECHAT_PAY, ALIPAY_OK, 100, "MXN", "r")
    with pytest.raises(InvalidInput, match="card number"):
        acquirer.authorise(WalletProvider.WECHAT_PAY, "4111 1111 1111 1111", 100, "MXN", "r")
    with pytest.raises(PaymentRefused, match="reference"):
        acquirer.authorise(WalletProvider.WECHAT_PAY, WECHAT_OK, 100, "MXN", "bad reference!")


def test_refunds_are_bounded_by_what_was_taken(acquirer: SimulatedAcquirer) -> None:
    answer = acquirer.authorise(WalletProvider.ALIPAY, ALIPAY_OK, 5000, "MXN", "sale-4.a")
    assert isinstance(answer, Approval)
    first = acquirer.refund(answer.transaction_id, 2000, reference="rf-1")
    assert acquirer.refund(answer.transaction_id, 2000, reference="rf-1") == first
    acquirer.refund(answer.transaction_id, 3000)
    assert acquirer.refunded_minor(answer.transaction_id) == 5000
    with pytest.raises(PaymentRefused, match="only 0"):
        acquirer.refund(answer.transaction_id, 1)
    with pytest.raises(PaymentRefused, match="not known"):
        acquirer.refund("SIM-nope", 1)
