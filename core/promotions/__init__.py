"""Promotions: the model (:mod:`.model`), loading from JSON (:mod:`.loader`) and evaluation (:mod:`.engine`).

Typical use::

    book = load_promotion_set(json_text)           # once per promotion-set version
    outcome = evaluate(book, lines, context)       # per ticket
"""

from core.promotions.engine import (
    Applied,
    Evaluation,
    EvaluationContext,
    Funder,
    PromoLine,
    PromotionSet,
    PromotionUsage,
    Shopper,
    Skipped,
    SkipReason,
    evaluate,
)
from core.promotions.loader import load_promotion, load_promotion_set, load_promotions, promotion_schema
from core.promotions.model import (
    AmountOff,
    Audience,
    AudienceKind,
    BonusPoints,
    BuyGetDiscount,
    BuyGetFree,
    Conditions,
    Effect,
    EventKind,
    EventWindow,
    Funding,
    HourWindow,
    Limits,
    PercentOff,
    PointsMultiplier,
    Promotion,
    Scope,
    ScopeKind,
    Stacking,
    Weekday,
)

__all__ = [
    "AmountOff",
    "Applied",
    "Audience",
    "AudienceKind",
    "BonusPoints",
    "BuyGetDiscount",
    "BuyGetFree",
    "Conditions",
    "Effect",
    "Evaluation",
    "EvaluationContext",
    "EventKind",
    "EventWindow",
    "Funder",
    "Funding",
    "HourWindow",
    "Limits",
    "PercentOff",
    "PointsMultiplier",
    "PromoLine",
    "Promotion",
    "PromotionSet",
    "PromotionUsage",
    "Scope",
    "ScopeKind",
    "Shopper",
    "SkipReason",
    "Skipped",
    "Stacking",
    "Weekday",
    "evaluate",
    "load_promotion",
    "load_promotion_set",
    "load_promotions",
    "promotion_schema",
]
