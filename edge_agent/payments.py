"""Wallet payments (WeChat Pay, Alipay payment codes): the acquirer interface and a simulated acquirer.

A customer shows a payment code on their phone; the till scans it and asks the acquirer to take the amount
(:meth:`PaymentProvider.authorise`). The answer is an :class:`Approval` carrying the acquirer's transaction
id, or a :class:`Decline` with a reason code and a message for the cashier. ``reference`` is the box's own
id for the attempt and the idempotency key: asking again with the same reference (after a timeout, say)
gives the same answer and never takes the money twice. :meth:`PaymentProvider.refund` gives money back
against a transaction id.

Payment codes are single-use and live about a minute, so the checkout only calls a provider while the box
is online (``core.tenders.WalletOffline`` otherwise).

:class:`SimulatedAcquirer` follows fixed, documented rules so tests and the demo can reach every path:

* a code ending ``0000`` is declined ``code_expired``; a code ending ``1111`` is declined
  ``insufficient_funds``;
* an amount above ``limit_minor`` (default 5,000.00) is declined ``over_limit``;
* a code ending ``0408`` times out (:class:`PaymentTimeout`) on its first attempt and is approved when the
  same reference is asked again;
* anything else is approved with transaction id ``SIM`` + 20 hex digits derived from the reference.

Errors::

    PaymentError                   root
     +-- PaymentTimeout (TimeoutError)   no answer in time: ask again with the same reference
     +-- PaymentRefused (ValueError)     a request the acquirer cannot take (reused reference, unknown
                                         transaction, refund above what is left)
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from core.money import currency as lookup_currency
from core.tenders import WalletProvider, classify_wallet_code
from edge_agent.errors import EdgeError

__all__ = [
    "MAX_REMEMBERED_PAYMENTS",
    "Approval",
    "Decline",
    "PaymentError",
    "PaymentProvider",
    "PaymentRefused",
    "PaymentTimeout",
    "RefundReceipt",
    "SimulatedAcquirer",
]

MAX_REMEMBERED_PAYMENTS: Final = 10_000
"""Authorisations the simulated acquirer remembers for idempotency and refunds (oldest forgotten first)."""
MAX_REFERENCE_CHARS: Final = 64
DEFAULT_LIMIT_MINOR: Final = 500_000

_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


class PaymentError(EdgeError):
    """Root of the wallet payment errors; ``code`` is stable."""

    code = "payment_error"


class PaymentTimeout(PaymentError, TimeoutError):
    """The acquirer did not answer in time; the payment may or may not have gone through. Ask again with the
    same reference: the acquirer answers the first attempt's outcome."""

    code = "payment_timeout"


class PaymentRefused(PaymentError, ValueError):
    """A request the acquirer cannot take as given."""

    code = "payment_refused"


@dataclass(frozen=True)
class Approval:
    """The acquirer took the amount; ``transaction_id`` is what a refund refers to."""

    provider: WalletProvider
    transaction_id: str
    amount_minor: int
    currency: str
    reference: str

    @property
    def approved(self) -> bool:
        return True


@dataclass(frozen=True)
class Decline:
    """The acquirer refused the payment: ``reason`` is a stable code, ``message`` is for the cashier."""

    provider: WalletProvider
    reason: str
    message: str
    reference: str

    @property
    def approved(self) -> bool:
        return False


@dataclass(frozen=True)
class RefundReceipt:
    """Money given back against a transaction."""

    transaction_id: str
    refund_id: str
    amount_minor: int


class PaymentProvider(ABC):
    """A wallet acquirer. A backend must implement :meth:`authorise` and :meth:`refund`; both must be
    idempotent on their reference and raise :class:`PaymentTimeout` when the outcome is unknown."""

    @abstractmethod
    def authorise(
        self, provider: WalletProvider, code: str, amount_minor: int, currency: str, reference: str
    ) -> Approval | Decline:
        """Take ``amount_minor`` of ``currency`` with the scanned ``code``; ``reference`` is the idempotency key."""

    @abstractmethod
    def refund(self, transaction_id: str, amount_minor: int, *, reference: str | None = None) -> RefundReceipt:
        """Give ``amount_minor`` back against ``transaction_id``."""


def _check_reference(reference: str, field: str = "reference") -> str:
    if not isinstance(reference, str) or len(reference) > MAX_REFERENCE_CHARS or not _REFERENCE.fullmatch(reference):
        raise PaymentRefused(f"{field} must be 1 to {MAX_REFERENCE_CHARS} letters, digits and . _ : -")
    return reference


@dataclass
class _Payment:
    approval: Approval | Decline
    code: str
    amount_minor: int
    refunded_minor: int = 0


class SimulatedAcquirer(PaymentProvider):
    """An acquirer with deterministic rules (see the module docstring); it keeps what it did for tests.

    ``authorisations`` counts calls that reached it (answered or timed out), so a test can see that a retry
    with the same reference did not take money twice.
    """

    def __init__(self, *, limit_minor: int = DEFAULT_LIMIT_MINOR) -> None:
        self.limit_minor = limit_minor
        self.authorisations = 0
        self._by_reference: OrderedDict[str, _Payment] = OrderedDict()
        self._by_transaction: dict[str, _Payment] = {}
        self._timed_out: set[str] = set()
        self._refunds: dict[str, RefundReceipt] = {}

    def authorise(
        self, provider: WalletProvider, code: str, amount_minor: int, currency: str, reference: str
    ) -> Approval | Decline:
        self.authorisations += 1
        _check_reference(reference)
        lookup_currency(currency)
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
            raise PaymentRefused("amount_minor must be a positive whole number of minor units")
        scanned_provider, digits = classify_wallet_code(code)
        if scanned_provider is not provider:
            raise PaymentRefused(f"the code is a {scanned_provider.value} code, not {provider.value}")
        known = self._by_reference.get(reference)
        if known is not None:
            if known.code != digits or known.amount_minor != amount_minor:
                raise PaymentRefused(f"reference {reference} was already used for another payment")
            return known.approval
        if digits.endswith("0408") and reference not in self._timed_out:
            self._timed_out.add(reference)
            raise PaymentTimeout(f"{provider.value} did not answer for reference {reference}; ask again")
        answer: Approval | Decline
        if digits.endswith("0000"):
            answer = Decline(provider, "code_expired", "the payment code has expired; ask for a new code", reference)
        elif digits.endswith("1111"):
            answer = Decline(provider, "insufficient_funds", "the wallet has not enough funds", reference)
        elif amount_minor > self.limit_minor:
            answer = Decline(provider, "over_limit", "the amount is over this wallet's limit", reference)
        else:
            transaction_id = "SIM" + hashlib.sha256(reference.encode()).hexdigest()[:20]
            answer = Approval(provider, transaction_id, amount_minor, currency, reference)
        payment = _Payment(answer, digits, amount_minor)
        self._by_reference[reference] = payment
        if isinstance(answer, Approval):
            self._by_transaction[answer.transaction_id] = payment
        while len(self._by_reference) > MAX_REMEMBERED_PAYMENTS:
            _, old = self._by_reference.popitem(last=False)
            if isinstance(old.approval, Approval):
                self._by_transaction.pop(old.approval.transaction_id, None)
        return answer

    def refund(self, transaction_id: str, amount_minor: int, *, reference: str | None = None) -> RefundReceipt:
        key = _check_reference(reference, "refund reference") if reference is not None else None
        if key is not None and key in self._refunds:
            return self._refunds[key]
        payment = self._by_transaction.get(transaction_id)
        if payment is None:
            raise PaymentRefused(f"transaction {transaction_id} is not known to the acquirer")
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
            raise PaymentRefused("amount_minor must be a positive whole number of minor units")
        left = payment.amount_minor - payment.refunded_minor
        if amount_minor > left:
            raise PaymentRefused(f"only {left} minor units of transaction {transaction_id} are left to refund")
        payment.refunded_minor += amount_minor
        receipt = RefundReceipt(transaction_id, f"RF{transaction_id[3:]}-{payment.refunded_minor}", amount_minor)
        if key is not None:
            self._refunds[key] = receipt
            while len(self._refunds) > MAX_REMEMBERED_PAYMENTS:
                del self._refunds[next(iter(self._refunds))]
        return receipt

    def refunded_minor(self, transaction_id: str) -> int:
        """What was given back so far against ``transaction_id``."""
        payment = self._by_transaction.get(transaction_id)
        return 0 if payment is None else payment.refunded_minor
