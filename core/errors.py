"""The error hierarchy of ``core``.

::

    CoreError                      root of every error raised by core (has a stable ``code``)
     +-- InvalidInput (ValueError) bad data from a caller: names the field and the problem
     |    +-- ContractViolation    a wire message that breaks the contract (see core.wire)
     +-- CurrencyMismatch (ValueError)
     +-- UnknownCurrency (KeyError)

Each error carries a short ``code`` that is stable across releases: it crosses the wire (dead letters,
command results) and becomes a CLI exit reason, so integrators may match on it. The message is for people.
"""

from __future__ import annotations


class CoreError(Exception):
    """Root of every error raised by ``core``."""

    code: str = "core_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidInput(CoreError, ValueError):
    """Input that cannot be used as given; ``field`` is a dotted path to the offending value."""

    code = "invalid_input"

    def __init__(self, field: str, problem: str, *, code: str | None = None) -> None:
        super().__init__(f"{field}: {problem}" if field else problem, code=code)
        self.field = field
        self.problem = problem


class CurrencyMismatch(CoreError, ValueError):
    """Two amounts in different currencies were combined."""

    code = "currency_mismatch"


class UnknownCurrency(CoreError, KeyError):
    """A currency code that is not in the ISO 4217 table core knows."""

    code = "unknown_currency"

    def __str__(self) -> str:
        # KeyError would quote the message; people should read it plain.
        return self.message


def http_status_for(exc: BaseException) -> int:
    """The HTTP status an error answers with, from the built-in kind it is: 403 for a permission refused, 404
    for something missing, 400 for a bad value, 409 for a state that does not allow it, 503 for a service or
    device out of reach, 500 for anything else. The hub's API and the box's mPOS both answer this way."""
    if isinstance(exc, PermissionError):
        return 403
    if isinstance(exc, LookupError):
        return 404
    if isinstance(exc, ValueError):
        return 400
    if isinstance(exc, RuntimeError):
        return 409
    if isinstance(exc, OSError):
        return 503
    return 500
