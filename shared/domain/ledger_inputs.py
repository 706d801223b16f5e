"""What the storefront and the back office send to move a credit line: a capture, a payment, the
"allow exceeding" setting (JSON, camelCase; snake_case too)."""
from __future__ import annotations

from pydantic import Field, StrictBool

from shared.domain.partner_inputs import _ID, ExactDecimal, _Currency, _Input
from shared.domain.validation import OperatorName, text_field


class OrderCapture(_Currency):
    """The body of POST /api/orders/{orderId}/capture: the invoiced amount (at most what is reserved) and, as
    for a release, the partner whose order it is (the caller's own without it)."""

    amount: ExactDecimal
    hierarchy_id: str | None = Field(None, pattern=_ID)


class PaymentInput(_Currency):
    """A payment received from the partner: its id (the bank's or the ERP's) makes recording it idempotent."""

    payment_id: str = Field(pattern=_ID)
    amount: ExactDecimal
    reference: text_field(200) | None = None  # the remittance text or invoice numbers, as the clerk has them
    operator: OperatorName


class AllowExceedingInput(_Input):
    allow_exceeding: StrictBool
    operator: OperatorName | None = None
