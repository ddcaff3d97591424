"""Pricing a basket: promotions, then taxes, then points, in one deterministic pass.

1. The customer's tier is classified under the program's scheme (it can decide promotion audiences).
2. Promotions are evaluated (:mod:`core.promotions`); each line's discount is what they allocated to it.
3. Each line's amount after discounts goes to the tax engine (:mod:`core.tax`) as priced: tax included
   when the jurisdiction's prices include tax, before tax otherwise.
4. Points paid as tender are checked against the total and the balance (never beyond it, offline either).
5. Points are earned on the amounts after discounts, scaled down by the share paid with points unless the
   program earns on points tender (:mod:`core.points`).

Nothing here reads a clock or a file: ``now`` is the caller's, the jurisdiction and promotions are given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any, TypeVar

from pydantic import BaseModel

from core.errors import InvalidInput
from core.money import cash_round, currency
from core.points import (
    EarnLine,
    Member,
    PointsEarned,
    PointsKind,
    PointsProgram,
    PromotionPoints,
    earn_points,
)
from core.points import redeem_points as check_points_tender
from core.pricing.model import (
    Basket,
    Customer,
    FunderAmount,
    LineAmount,
    PricedLine,
    PricedReceipt,
    PromotionAmount,
    PromotionExplanation,
    ReceiptDiscount,
    ReceiptTax,
    ReceiptTaxLine,
    TierInfo,
    Totals,
)
from core.promotions.base import Model, validate_model
from core.promotions.engine import (
    Applied,
    EvaluationContext,
    PromoLine,
    PromotionSet,
    PromotionUsage,
    Shopper,
    Skipped,
    evaluate,
)
from core.promotions.model import Promotion
from core.promotions.timing import to_local
from core.tax import Jurisdiction, TaxableLine, TaxTotal, UnknownTaxCategory
from core.tax.compute import TaxedDocument, TaxRow, tax_document
from core.tiers import TierBasis, TierStanding, classify

__all__ = ["price"]

_PROMOTION_POINT_KINDS = (PointsKind.PROMOTION_BONUS, PointsKind.PROMOTION_MULTIPLIER)
# The tax engine names line fields its own way; a caller should read the basket field they wrote.
_TAX_FIELD_NAMES = {
    "category": "tax_category",
    "amount_minor": "unit_price_minor",
    "quantity": "quantity",
    "measure_per_unit_milli": "measure_per_unit_milli",
}


def price(
    basket: Basket,
    customer: Customer | None,
    program: PointsProgram | None,
    promotions: PromotionSet | Sequence[Promotion],
    jurisdiction: Jurisdiction,
    now: datetime,
    *,
    usage: Mapping[str, PromotionUsage] | None = None,
    redeem_points: int = 0,
    explain_unmatched: bool = False,
) -> PricedReceipt:
    """Price ``basket`` for ``customer`` (None for a walk-in) at ``now``; see the module docstring.

    ``promotions`` is best given as a :class:`PromotionSet` built once per promotion-set version; a plain
    sequence is indexed on every call. Bad input raises :class:`core.errors.InvalidInput` naming the field.
    """
    basket = validate_model(Basket, basket, "basket")
    if customer is not None:
        customer = validate_model(Customer, customer, "customer")
    if program is not None:
        program = validate_model(PointsProgram, program, "program")
    book = promotions if isinstance(promotions, PromotionSet) else PromotionSet(promotions)
    if not isinstance(jurisdiction, Jurisdiction):
        raise InvalidInput("jurisdiction", f"must be a Jurisdiction, not {type(jurisdiction).__name__}")
    code = basket.currency
    if jurisdiction.currency != code:
        raise InvalidInput(
            "basket.currency",
            f"is {code} but jurisdiction {jurisdiction.jurisdiction_id!r} prices in {jurisdiction.currency}",
        )
    if program is not None and program.currency != code:
        raise InvalidInput("program.currency", f"is {program.currency} but the basket is in {code}")
    if isinstance(redeem_points, bool) or not isinstance(redeem_points, int) or redeem_points < 0:
        raise InvalidInput("redeem_points", "must be a non-negative integer")
    if redeem_points and (customer is None or program is None):
        raise InvalidInput("redeem_points", "paying with points needs a customer and a program")
    local = to_local(now, basket.store.timezone, field="now", zone_field="basket.store.timezone")
    if not jurisdiction.in_force(local.date()):
        raise InvalidInput(
            "jurisdiction",
            f"{jurisdiction.jurisdiction_id!r} is not in force on {local.date().isoformat()} "
            f"(from {jurisdiction.effective_from.isoformat()}"
            + (f" until {jurisdiction.effective_until.isoformat()})" if jurisdiction.effective_until else ")"),
        )
    tax_categories = {c.category_id for c in jurisdiction.categories}
    for position, line in enumerate(basket.lines):
        if line.tax_category not in tax_categories:
            raise UnknownTaxCategory(
                f"basket.lines.{position}.tax_category",
                f"{line.tax_category!r} is not a tax category of jurisdiction "
                f"{jurisdiction.jurisdiction_id!r}; known: {', '.join(sorted(tax_categories))}",
            )

    standing = _standing(program, customer)
    tier = standing.tier if standing is not None else None
    shopper = None
    if customer is not None:
        shopper = Shopper(
            customer_id=customer.customer_id,
            tier=tier.id if tier is not None else None,
            segment_ids=frozenset(customer.segment_ids),
            birth_date=customer.birth_date,
            enrolled_on=customer.enrolled_on,
        )
    promo_lines = [
        PromoLine(
            line_id=line.line_id,
            item_id=line.item_id,
            category=line.category,
            quantity=line.quantity,
            unit_price_minor=line.unit_price_minor,
            distributor=line.distributor,
            brand=line.brand,
        )
        for line in basket.lines
    ]
    context = EvaluationContext(
        now=now,
        timezone=basket.store.timezone,
        currency=code,
        store_id=basket.store.store_id,
        retailer_id=basket.store.retailer_id,
        customer=shopper,
        usage=usage or {},
    )
    evaluation = evaluate(book, promo_lines, context, explain_unmatched=explain_unmatched)
    applied = evaluation.applied

    amounts = [line.gross_minor - evaluation.line_discount_minor[line.line_id] for line in promo_lines]
    breakdown = _taxes(basket, amounts, jurisdiction)

    total = breakdown.net_minor + breakdown.tax_minor
    tender_points = 0
    tender_minor = 0
    if redeem_points and customer is not None and program is not None:
        tender_points, tender_minor = _tender(program, customer, redeem_points, total)
    due = total - tender_minor

    earned: PointsEarned | None = None
    if program is not None and customer is not None:
        earned = earn_points(
            program,
            [
                EarnLine(line.line_id, line.item_id, line.category, line.quantity, amount)
                for line, amount in zip(basket.lines, amounts, strict=True)
            ],
            member=Member(
                customer_id=customer.customer_id,
                birth_date=customer.birth_date,
                enrolled_on=customer.enrolled_on,
                last_birthday_bonus_year=customer.last_birthday_bonus_year,
                last_anniversary_bonus_year=customer.last_anniversary_bonus_year,
            ),
            local_date=local.date(),
            tier=tier,
            promotions=[
                PromotionPoints(a.promotion.id, a.bonus_points, a.multiplier, a.points_line_ids, a.promotion.funding)
                for a in applied
                if a.bonus_points or a.multiplier is not None
            ],
            money_share=Fraction(due, total) if total else Fraction(1),
        )

    # Every value below was computed and typed here, so the receipt's models are built without validating
    # them again: a pricing builds hundreds of them, and validation was most of its cost.
    per_line: dict[str, list[PromotionAmount]] = {line.line_id: [] for line in basket.lines}
    discounts: list[ReceiptDiscount] = []
    for a in applied:
        promotion_id = a.promotion.id
        for line_id, amount in a.line_discounts:
            per_line[line_id].append(_promotion_amount({"promotion_id": promotion_id, "amount_minor": amount}))
        if a.discount_minor:
            discounts.append(
                _receipt_discount(
                    {
                        "promotion_id": promotion_id,
                        "name": a.promotion.name,
                        "effect": a.promotion.effect.type,
                        "amount_minor": a.discount_minor,
                        "funders": tuple(_funder_amount({"funder": f, "amount_minor": m}) for f, m in a.funders),
                        "lines": tuple(_line_amount({"line_id": i, "amount_minor": m}) for i, m in a.line_discounts),
                    },
                )
            )
    lines_out = tuple(
        _priced_line(
            {
                "line_id": line.line_id,
                "item_id": line.item_id,
                "description": line.description,
                "category": line.category,
                "tax_category": line.tax_category,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
                "gross_minor": line.unit_price_minor * line.quantity,
                "discount_minor": line.unit_price_minor * line.quantity - amount,
                "discounts": tuple(per_line[line.line_id]),
                "amount_minor": amount,
                "net_minor": net,
                "tax_minor": tax_minor,
                "total_minor": net + tax_minor,
                "taxes": tuple(_receipt_tax_line(t) for t in taxed),
                "exempt_from": _strings(category.exempt_from),
            },
        )
        for line, amount, (category, net, tax_minor, taxed) in zip(basket.lines, amounts, breakdown.lines, strict=True)
    )
    taxes = tuple(_receipt_tax(t) for t in breakdown.taxes)
    gross_total = sum(line.gross_minor for line in promo_lines)
    totals = _totals(
        {
            "gross_minor": gross_total,
            "discount_minor": evaluation.discount_minor,
            "amount_minor": gross_total - evaluation.discount_minor,
            "net_minor": breakdown.net_minor,
            "tax_minor": breakdown.tax_minor,
            "total_minor": total,
            "points_redeemed": tender_points,
            "points_tender_minor": tender_minor,
            "due_minor": due,
            "cash_due_minor": cash_round(due, currency(code)),
        },
    )
    balance_after = None
    if customer is not None and program is not None:
        balance_after = customer.points_balance - tender_points + (earned.total if earned is not None else 0)
    return _priced_receipt(
        {
            "currency": code,
            "jurisdiction_id": jurisdiction.jurisdiction_id,
            "priced_at": now,
            "store_id": basket.store.store_id,
            "customer_id": customer.customer_id if customer is not None else None,
            "lines": lines_out,
            "discounts": tuple(discounts),
            "taxes": taxes,
            "totals": totals,
            "points": earned,
            "points_balance_after": balance_after,
            "tier": _tier_info(standing),
            "promotions": _explanations(evaluation.results, earned),
            "not_considered": evaluation.not_considered,
        },
    )


_M = TypeVar("_M", bound=Model)


def _builder(cls: type[_M], *unset: str) -> Callable[[dict[str, Any]], _M]:
    """Builds one kind of receipt model from values already typed here, as ``model_validate`` would.

    The values are every field in declaration order, with the exact types validation would give them
    (tuples, enums, models); the fields named in ``unset`` hold their declared defaults and, as after
    validation, are not counted as set. It is ``model_construct`` without its per-field lookups. The models
    are frozen, and pydantic copies the set of given fields before it changes one, so every model of a kind
    shares one set: a pricing builds hundreds of models, and every object less is less work for the garbage
    collector.
    """
    # What this skips must not matter: no hook runs after validation, no private attributes to set up.
    assert cls.__pydantic_post_init__ is None and not cls.__private_attributes__
    assert not cls.__pydantic_root_model__ and cls.model_config.get("extra") == "forbid"
    given = set(cls.__pydantic_fields__) - set(unset)
    new = object.__new__
    setattr_ = object.__setattr__
    # The slots' own setters: the frozen model's __setattr__ is bypassed, as object.__setattr__ would, with no
    # lookup by name on every model.
    slots = vars(BaseModel)
    set_fields = slots["__pydantic_fields_set__"].__set__
    set_extra = slots["__pydantic_extra__"].__set__
    set_private = slots["__pydantic_private__"].__set__

    def build(values: dict[str, Any]) -> _M:
        model = new(cls)
        setattr_(model, "__dict__", values)
        set_fields(model, given)
        set_extra(model, None)
        set_private(model, None)
        return model

    return build


_promotion_amount = _builder(PromotionAmount)
_funder_amount = _builder(FunderAmount)
_line_amount = _builder(LineAmount)
_receipt_discount = _builder(ReceiptDiscount)
_priced_line = _builder(PricedLine)
_receipt_tax_line_kind = _builder(ReceiptTaxLine)
_receipt_tax_kind = _builder(ReceiptTax)
_totals = _builder(Totals)
_tier_info_kind = _builder(TierInfo)
_priced_receipt = _builder(PricedReceipt)
_applied_explanation = _builder(PromotionExplanation, "reason_code")
_skipped_explanation = _builder(PromotionExplanation, "discount_minor", "points", "lines")


def _strings(values: Sequence[str]) -> tuple[str, ...]:
    return values if type(values) is tuple else tuple(values)


def _receipt_tax_line(row: TaxRow) -> ReceiptTaxLine:
    entry, base, amount, measure_milli = row
    return _receipt_tax_line_kind(
        {
            "tax_id": entry.tax_id,
            "name": entry.name,
            "base_minor": base,
            "amount_minor": amount,
            "rate": entry.rate,
            "per_unit_minor": entry.per_unit_minor,
            "measure_unit": entry.measure_unit,
            "measure_milli": measure_milli,
            "zero_rated": entry.zero_rated,
        }
    )


def _receipt_tax(tax: TaxTotal) -> ReceiptTax:
    return _receipt_tax_kind(
        {
            "tax_id": tax.tax_id,
            "name": tax.name,
            "base_minor": tax.base_minor,
            "amount_minor": tax.amount_minor,
            "exempt_base_minor": tax.exempt_base_minor,
            "rate": tax.rate,
            "per_unit_minor": tax.per_unit_minor,
            "measure_unit": tax.measure_unit,
            "measure_milli": tax.measure_milli,
            "zero_rated": tax.zero_rated,
        }
    )


def _standing(program: PointsProgram | None, customer: Customer | None) -> TierStanding | None:
    if program is None or customer is None or program.tiers is None:
        return None
    if program.tiers.basis is TierBasis.POINTS:
        return classify(program.tiers, customer.tier_points, field="customer.tier_points")
    return classify(program.tiers, customer.transactions_this_month, field="customer.transactions_this_month")


def _tier_info(standing: TierStanding | None) -> TierInfo | None:
    if standing is None:
        return None
    return _tier_info_kind(
        {
            "basis": standing.basis,
            "value": standing.value,
            "tier_id": standing.tier.id if standing.tier is not None else None,
            "tier_name": standing.tier.name if standing.tier is not None else None,
            "next_tier_id": standing.next_tier.id if standing.next_tier is not None else None,
            "to_next": standing.to_next,
        },
    )


def _taxes(basket: Basket, amounts: list[int], jurisdiction: Jurisdiction) -> TaxedDocument:
    taxable = [
        TaxableLine(
            line_id=line.line_id,
            category=line.tax_category,
            quantity=line.quantity,
            amount_minor=amount,
            measure_per_unit_milli=line.measure_per_unit_milli,
        )
        for line, amount in zip(basket.lines, amounts, strict=True)
    ]
    try:
        return tax_document(taxable, jurisdiction)
    except InvalidInput as exc:
        raise InvalidInput(_basket_field(exc.field), exc.problem, code=exc.code) from exc


def _basket_field(tax_field: str) -> str:
    # "lines[3].amount_minor" -> "basket.lines.3.unit_price_minor"
    head, _, attribute = tax_field.partition(".")
    if head.startswith("lines[") and head.endswith("]"):
        position = head[len("lines[") : -1]
        name = _TAX_FIELD_NAMES.get(attribute, attribute)
        return f"basket.lines.{position}.{name}" if name else f"basket.lines.{position}"
    return f"basket.{tax_field}" if tax_field else "basket"


def _tender(program: PointsProgram, customer: Customer, points: int, total_minor: int) -> tuple[int, int]:
    """Points and money of a points tender towards ``total_minor``; refusals raise InvalidInput."""
    tender = check_points_tender(
        program,
        points,
        amount_due_minor=total_minor,
        balance_points=customer.points_balance,
        field="redeem_points",
    )
    return tender.points, tender.amount_minor


def _explanations(
    results: Sequence[Applied | Skipped], earned: PointsEarned | None
) -> tuple[PromotionExplanation, ...]:
    points_by_promotion: dict[str, int] = {}
    if earned is not None:
        for entry in earned.entries:
            if entry.kind in _PROMOTION_POINT_KINDS:
                points_by_promotion[entry.source] = points_by_promotion.get(entry.source, 0) + entry.points
    out: list[PromotionExplanation] = []
    for result in results:
        p = result.promotion
        if isinstance(result, Applied):
            out.append(
                _applied_explanation(
                    {
                        "promotion_id": p.id,
                        "name": p.name,
                        "status": "applied",
                        "reason_code": None,
                        "reason": result.detail,
                        "discount_minor": result.discount_minor,
                        "points": points_by_promotion.get(p.id, 0),
                        "lines": result.points_line_ids or tuple(i for i, _ in result.line_discounts),
                    },
                )
            )
        else:
            out.append(
                _skipped_explanation(
                    {
                        "promotion_id": p.id,
                        "name": p.name,
                        "status": "skipped",
                        "reason_code": result.reason,
                        "reason": result.text,
                        "discount_minor": 0,
                        "points": 0,
                        "lines": (),
                    },
                )
            )
    return tuple(out)
