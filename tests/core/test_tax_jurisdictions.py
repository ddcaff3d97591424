"""The shipped jurisdictions against worked examples: published ones where they exist, else built from rates.

Each test's docstring names its source. "Published" means the example, with its figures, appears in the cited
publication; "constructed" means the figures were worked out here from the rate that the cited publication
gives.
"""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import InvalidInput
from core.tax import (
    Pricing,
    TaxableLine,
    TaxBreakdown,
    compute_taxes,
    load_jurisdiction,
    shipped_jurisdiction,
)


def tax(result: TaxBreakdown, tax_id: str) -> int:
    return result.total(tax_id).amount_minor


# --- Canada, Quebec -------------------------------------------------------------------------------


def test_quebec_published_example_gst_and_qst_on_a_100_dollar_sale() -> None:
    """Published: Revenu Québec, "Calculating the Taxes".

    http://www.revenuquebec.ca/en/entreprise/taxes/tvq_tps/calcul-taxes.aspx (the same page, "Sample
    two-stage calculation", also at http://www.revenuquebec.ca/en/entreprises/taxes/tpstvhtvq/perception/calcultaxes.aspx)
    — a taxable good sold for $100: GST ($100 x 5%) $5.00, QST ($100 x 9.975%) $9.98, total $114.98.
    """
    result = compute_taxes([TaxableLine("good", "general", 1, 10_000)], shipped_jurisdiction("ca-qc"))
    assert tax(result, "gst") == 500
    assert tax(result, "qst") == 998
    assert result.gross_minor == 11_498


QUEBEC_2012 = """
format_version = 1
id = "ca-qc-2012"
name = "Quebec before 2013: QST 9.5 % on the price plus GST"
country = "CA"
region = "CA-QC"
currency = "CAD"
pricing = "exclusive"
rounding = "per_document"
rounding_mode = "half_up"
effective_from = 2012-01-01
effective_until = 2012-12-31

[taxes.gst]
name = "GST"
kind = "percentage"
rate = "5%"

[taxes.qst]
name = "QST"
kind = "percentage"
rate = "9.5%"
compound = true

[categories.general]
taxes = ["gst", "qst"]
"""


def test_quebec_published_example_of_the_compound_qst_before_2013() -> None:
    """Published: Revenu Québec press release of 2012-12-17, "Changes to the QST system".

    http://www.revenuquebec.ca/en/salle-de-presse/communiques/autres/2012/17dec.aspx — "Calculation before
    January 1, 2013": selling price $100.00, GST ($100 x 5%) $5.00, QST ([$100 + $5] x 9.5%) $9.98, total
    $114.98; the same total as the 9.975 % rate on the price alone from 2013.
    """
    old = compute_taxes([TaxableLine("good", "general", 1, 10_000)], load_jurisdiction(QUEBEC_2012))
    qst = old.line("good").taxes[1]
    assert qst.base_minor == 10_500
    assert qst.amount_minor == 998
    assert tax(old, "gst") == 500
    assert old.gross_minor == 11_498
    new = compute_taxes([TaxableLine("good", "general", 1, 10_000)], shipped_jurisdiction("ca-qc"))
    assert new.gross_minor == old.gross_minor


def test_quebec_taxes_may_be_calculated_on_the_total_price() -> None:
    """Constructed from the rule published by Revenu Québec, "Calculating the Taxes" (URL above; current
    address https://www.revenuquebec.ca/en/businesses/consumption-taxes/gsthst-and-qst/collecting-gst-and-qst/calculating-the-taxes/).

    The page says fractions of half a cent or more count as a cent and that, when several goods are sold,
    the taxes may be calculated on the total price. Three $0.05 items: QST per item is 0.49875 cent (0 each),
    on the $0.15 total 1.49625 cents, so 1 cent.
    """
    lines = [TaxableLine(f"i{n}", "general", 1, 5) for n in range(3)]
    result = compute_taxes(lines, shipped_jurisdiction("ca-qc"))
    assert tax(result, "qst") == 1
    assert tax(result, "gst") == 1  # 0.75 cent on the total


def test_quebec_basic_groceries_are_zero_rated_under_both_taxes() -> None:
    """Constructed from the zero rating of basic groceries under the GST and the QST (Revenu Québec).

    For the GST: Canada Revenue Agency, "Charge and collect the tax - Which rate to charge",
    http://www.canada.ca/en/revenue-agency/services/tax/businesses/topics/gst-hst-businesses/charge-collect-which-rate.html
    — "basic groceries are taxable at the rate of zero (0% GST/HST) in every province and territory."
    """
    result = compute_taxes([TaxableLine("milk", "basic_groceries", 1, 499)], shipped_jurisdiction("ca-qc"))
    assert result.tax_minor == 0
    assert result.zero_rated_base_minor == 499
    assert result.exempt_base_minor == 0


# --- Canada, British Columbia and Ontario ---------------------------------------------------------


def test_british_columbia_gst_and_pst_are_each_charged_on_the_price_before_tax() -> None:
    """Constructed from the published rates and rule (no official worked example with figures was found).

    GST: Canada Revenue Agency, "Charge and collect the tax - Which rate to charge",
    http://www.canada.ca/en/revenue-agency/services/tax/businesses/topics/gst-hst-businesses/charge-collect-which-rate.html
    — British Columbia 5 % from April 1, 2013, and "If provincial sales tax (PST) is charged in the place of
    supply, calculate the GST on the price without the PST."
    PST: Government of British Columbia, "B.C. provincial sales tax (PST)",
    https://www2.gov.bc.ca/gov/content/taxes/sales-taxes/pst — "Generally, the rate of PST is 7% on the
    purchase or lease price of goods and services, with some exceptions."
    Constructed figures: $50.00 -> GST $2.50 + PST $3.50 = $56.00.
    """
    result = compute_taxes([TaxableLine("item", "general", 1, 5000)], shipped_jurisdiction("ca-bc"))
    assert (tax(result, "gst"), tax(result, "pst")) == (250, 350)
    assert result.gross_minor == 5600


def test_british_columbia_groceries_are_zero_rated_for_gst_and_exempt_from_pst() -> None:
    """Constructed from the published rules: zero-rated (GST) and exempt (PST) reported separately on one line.

    GST: CRA, "Charge and collect the tax - Which rate to charge" (URL above) — "basic groceries are taxable
    at the rate of zero (0% GST/HST) in every province and territory."
    PST: Provincial Sales Tax Act [SBC 2012] c. 35, s. 139 (exemptions in relation to food: "food products
    for human consumption", except soda beverages and other listed beverages),
    https://www.bclaws.gov.bc.ca/civix/document/id/complete/statreg/12035_06
    """
    result = compute_taxes([TaxableLine("bread", "basic_groceries", 1, 350)], shipped_jurisdiction("ca-bc"))
    assert result.tax_minor == 0
    assert result.zero_rated_base_minor == 350
    assert result.exempt_base_minor == 350
    assert result.total("pst").exempt_base_minor == 350
    assert result.total("gst_zero").base_minor == 350


def test_ontario_hst_13_percent_on_a_39_99_item() -> None:
    """Constructed from the published rate (no official worked example with figures was found).

    Rate: CRA, "Charge and collect the tax - Which rate to charge",
    http://www.canada.ca/en/revenue-agency/services/tax/businesses/topics/gst-hst-businesses/charge-collect-which-rate.html
    — Ontario 13 % from July 1, 2010 (the page's example: a mattress delivered to a customer in Toronto bears
    13 % HST, without amounts). Constructed figures: $39.99 -> HST $5.1987 -> $5.20, total $45.19.
    """
    result = compute_taxes([TaxableLine("chime", "general", 1, 3999)], shipped_jurisdiction("ca-on"))
    assert tax(result, "hst") == 520
    assert result.gross_minor == 4519


def test_ontario_basic_groceries_are_zero_rated() -> None:
    """Constructed from the published rule: CRA, "Charge and collect the tax - Which rate to charge" (URL
    above) — "basic groceries are taxable at the rate of zero (0% GST/HST) in every province and territory."
    """
    result = compute_taxes([TaxableLine("milk", "basic_groceries", 1, 499)], shipped_jurisdiction("ca-on"))
    assert result.tax_minor == 0
    assert result.zero_rated_base_minor == 499
    assert result.exempt_base_minor == 0


def test_ontario_point_of_sale_rebate_goods_pay_only_the_federal_part() -> None:
    """Constructed from the 5 % federal part of the HST (Canada Revenue Agency, "What is HST?",
    http://www.cra-arc.gc.ca/tx/bsnss/tpcs/gst-tps/gnrl/hst-tvh/wrks-eng.html).
    """
    result = compute_taxes([TaxableLine("boots", "pos_rebate_goods", 1, 2000)], shipped_jurisdiction("ca-on"))
    assert result.tax_minor == 100


# --- United States, Texas, El Paso ----------------------------------------------------------------


def test_texas_tax_is_computed_on_the_total_of_an_invoice() -> None:
    """Published rule and example: Texas Comptroller, Sales and Use Tax FAQ, "Sales Tax Collection".

    http://comptroller.texas.gov/taxes/sales/faq/collection.php — "You sell three T-shirts for $10, $25 and
    $50. The total sum of the sales prices is $85. You would apply the tax rate to $85." At El Paso's
    combined 8.25 %: $7.0125, so $7.01 (per item it would have been $0.83 + $2.06 + $4.13 = $7.02).
    """
    shirts = [TaxableLine(f"shirt{n}", "general", 1, price) for n, price in enumerate((1000, 2500, 5000))]
    el_paso = shipped_jurisdiction("us-tx-el-paso")
    result = compute_taxes(shirts, el_paso)
    assert result.tax_minor == 701
    assert result.gross_minor == 9201
    assert sum(lt.tax_minor for lt in result.lines) == 701
    per_jurisdiction = {t.tax_id: t.amount_minor for t in result.taxes}
    assert sum(per_jurisdiction.values()) == 701
    # 531.25 / 42.5 / 85 / 42.5 cents: floors leave one cent, given to the first of the two .5 fractions.
    assert per_jurisdiction == {"tx_state": 531, "el_paso_county": 43, "el_paso_city": 85, "el_paso_ctd": 42}


def test_texas_half_cent_is_collected_as_a_cent() -> None:
    """Constructed from Tax Code 151.053 as quoted by a third party.

    http://texastaxgroup.com/proper-calculation-of-sales-and-use-tax/ quotes the statute (a fraction of one
    half cent or more is collected as one cent) with the example $250 at 8.25 % = $20.625 -> $20.63.
    """
    result = compute_taxes([TaxableLine("item", "general", 1, 25_000)], shipped_jurisdiction("us-tx-el-paso"))
    assert result.tax_minor == 2063


def test_texas_tax_included_prices_back_out_with_price_divided_by_one_plus_rate() -> None:
    """Published formula: the Texas Comptroller FAQ (URL above) gives "Price ÷ (1 + tax rate)" as the price.

    Constructed figures: $10.83 tax included at 8.25 % -> $10.0046 -> $10.00 sales price, $0.83 tax.
    """
    included = dataclasses.replace(shipped_jurisdiction("us-tx-el-paso"), pricing=Pricing.INCLUSIVE)
    result = compute_taxes([TaxableLine("item", "general", 1, 1083)], included)
    assert (result.net_minor, result.tax_minor) == (1000, 83)


def test_texas_food_products_are_exempt_from_state_and_local_tax() -> None:
    """Published taxability: Texas Comptroller, "Grocery and Convenience Stores" (publication 96-280).

    https://comptroller.texas.gov/taxes/publications/96-280.php — flour, sugar, bread, milk, eggs, fruits and
    vegetables are not taxable; soft drinks and candy are.
    """
    lines = [TaxableLine("milk", "food_product", 1, 399), TaxableLine("soda", "soft_drink", 1, 200)]
    result = compute_taxes(lines, shipped_jurisdiction("us-tx-el-paso"))
    assert result.line("milk").tax_minor == 0
    assert result.exempt_base_minor == 399
    assert result.tax_minor == 17  # 8.25 % of $2.00 = $0.165 -> $0.17
    assert all(t.exempt_base_minor == 399 for t in result.taxes)


# --- Mexico ---------------------------------------------------------------------------------------


def test_mexico_iva_16_percent_backed_out_of_a_shelf_price() -> None:
    """Constructed from the rate of Ley del IVA art. 1 (16 %): $116.00 with IVA is $100.00 + $16.00."""
    result = compute_taxes([TaxableLine("item", "general", 1, 11_600)], shipped_jurisdiction("mx-general"))
    assert (result.net_minor, tax(result, "iva")) == (10_000, 1600)


def test_mexico_iva_on_a_sugared_drink_includes_the_ieps_quota() -> None:
    """Constructed from the 2026 IEPS quota and Ley del IVA art. 18 (the IVA base includes the IEPS).

    Quota $3.0818 per litre: text of LIEPS art. 2-I-G as approved, quoted at
    https://www.nmas.com.mx/economia/cuanto-subira-precio-refrescos-regulares-y-light-ieps-nuevo-costo-impuestos-diputados/
    A 600 ml bottle sold by its bottler at $10.00 before taxes: IEPS 0.6 x 3.0818 = $1.84908 -> $1.85; IVA
    16 % of $11.85 = $1.896 -> $1.90; shelf price $13.75. Backed out of $13.75 the same amounts come back.
    """
    mx = shipped_jurisdiction("mx-general")
    result = compute_taxes([TaxableLine("cola", "bebida_azucarada_primera_venta", 1, 1375, 600)], mx)
    ieps, iva = result.line("cola").taxes
    assert (ieps.amount_minor, iva.amount_minor, iva.base_minor) == (185, 190, 1185)
    assert result.net_minor == 1000
    exclusive = dataclasses.replace(mx, pricing=Pricing.EXCLUSIVE)
    forward = compute_taxes([TaxableLine("cola", "bebida_azucarada_primera_venta", 1, 1000, 600)], exclusive)
    assert forward.gross_minor == 1375


def test_mexico_sweetened_drink_quota_adds_1_74_per_litre_with_its_iva() -> None:
    """Constructed from the 2026 quota of $1.5000 per litre (nmas.com.mx, above); matches a press example.

    https://diariodelyaqui.mx/nacional/bebidas-sin-azucar-en-mexico-con-un-nuevo-impuesto-cuanto-costaran-a-partir-de-2026-/119928
    (a newspaper, not the SAT): $1.50 per litre becomes $1.74 with the 16 % IVA on a base that includes the
    special tax, so a 2-litre bottle at $33.00 goes to about $36.48. Backed out, both shelf prices leave the
    seller the same $28.45 net.
    """
    mx = shipped_jurisdiction("mx-general")
    before = compute_taxes([TaxableLine("soda", "general", 1, 3300)], mx)
    after = compute_taxes([TaxableLine("soda", "bebida_edulcorada_primera_venta", 1, 3648, 2000)], mx)
    assert tax(after, "ieps_bebida_edulcorante") == 300
    assert before.net_minor == after.net_minor == 2845


def test_mexico_high_calorie_snack_bears_ieps_8_and_iva_at_zero_rate() -> None:
    """Constructed from LIEPS art. 2-I-J (8 %) and LIVA art. 2-A (0 % on food).

    Rate of the IEPS as listed at https://es.scribd.com/presentation/448958413/Exposicion-Alimentos (a
    course presentation quoting the law). $10.80 shelf price: net $10.00, IEPS $0.80, IVA 0 % on $10.80.
    """
    result = compute_taxes([TaxableLine("chips", "alta_densidad", 1, 1080)], shipped_jurisdiction("mx-general"))
    ieps, iva_0 = result.line("chips").taxes
    assert (result.net_minor, ieps.amount_minor) == (1000, 80)
    assert (iva_0.base_minor, iva_0.amount_minor, iva_0.zero_rated) == (1080, 0, True)
    assert result.zero_rated_base_minor == 1000


def test_mexico_books_are_exempt_not_zero_rated() -> None:
    """Constructed from LIVA art. 9 fracc. III (sale of books, newspapers and magazines is exempt)."""
    result = compute_taxes([TaxableLine("diario", "libros_revistas", 1, 1500)], shipped_jurisdiction("mx-general"))
    assert result.tax_minor == 0
    assert result.exempt_base_minor == 1500
    assert result.zero_rated_base_minor == 0
    assert result.total("iva").exempt_base_minor == 1500


def test_mexico_border_region_iva_is_8_percent_while_the_decree_is_in_force() -> None:
    """Constructed from the 8 % IVA of the northern border decree, in force to 2025-12-31.

    Term of the decree: https://zetatijuana.com/2024/12/prorrogan-estimulos-fiscales-para-la-franja-fronteriza-norte-de-mexico-hasta-diciembre-2025
    $108.00 shelf price: net $100.00, IVA $8.00.
    """
    border = shipped_jurisdiction("mx-frontera-norte")
    result = compute_taxes([TaxableLine("item", "general", 1, 10_800)], border)
    assert (result.net_minor, result.tax_minor) == (10_000, 800)
    assert border.effective_until is not None
    assert border.effective_until.isoformat() == "2025-12-31"


def test_mexico_unknown_category_is_refused_never_taxed_at_zero() -> None:
    """No silent 0 %: a catalogue category the file does not define is an error listing the defined ones."""
    with pytest.raises(InvalidInput) as info:
        compute_taxes([TaxableLine("x", "cerveza", 1, 2500)], shipped_jurisdiction("mx-general"))
    assert "alimentos" in info.value.problem


# --- China ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "gross", "net", "vat"),
    [
        ("general_goods", 11_300, 10_000, 1300),
        ("agricultural_and_staples", 10_900, 10_000, 900),
        ("services", 10_600, 10_000, 600),
        ("general_goods", 1000, 885, 115),  # 10 yuan: 1000 x 13/113 = 115.04 fen
    ],
)
def test_china_vat_is_separated_from_tax_inclusive_prices(category: str, gross: int, net: int, vat: int) -> None:
    """Constructed from the rates 13 / 9 / 6 %.

    Rates: VAT Law of the PRC, in force 2026-01-01, as summarised by Avalara VATlive,
    https://www.avalara.com/us/en/vatlive/country-guides/asia/china/chinese-vat-rates.html (no worked example
    from the State Taxation Administration was found). Net = gross / (1 + rate): 113 yuan at 13 % is 100 + 13.
    """
    result = compute_taxes([TaxableLine("x", category, 1, gross)], shipped_jurisdiction("cn-vat"))
    assert (result.net_minor, result.tax_minor) == (net, vat)


# --- Spain ----------------------------------------------------------------------------------------


def test_spain_simplified_invoice_with_three_rates() -> None:
    """Constructed from Ley 37/1992 arts. 90 and 91 (21 %, 10 %, 4 %), rates as tabulated at
    https://glasof.es/blog/iva-tipos-impositivos-2022 (from Agencia Tributaria information).

    Ticket, VAT included: bread 1.04 (4 %), fish 11.00 (10 %), detergent 12.10 (21 %): the bases are 1.00,
    10.00 and 10.00, the cuotas 0.04, 1.00 and 2.10.
    """
    lines = [
        TaxableLine("pan", "primera_necesidad", 1, 104),
        TaxableLine("pescado", "alimentacion", 1, 1100),
        TaxableLine("detergente", "general", 1, 1210),
    ]
    result = compute_taxes(lines, shipped_jurisdiction("es-iva"))
    assert [(t.tax_id, t.base_minor, t.amount_minor) for t in result.taxes] == [
        ("iva_21", 1000, 210),
        ("iva_10", 1000, 100),
        ("iva_4", 100, 4),
    ]
    assert result.net_minor + result.tax_minor == result.gross_minor == 2414


def test_spain_rounds_each_rate_once_on_the_ticket() -> None:
    """Constructed: ten items at 0.99 with IVA 21 % each hold 0.1718 of tax; the ticket 1.7182 -> 1.72."""
    lines = [TaxableLine(f"i{n}", "general", 1, 99) for n in range(10)]
    result = compute_taxes(lines, shipped_jurisdiction("es-iva"))
    assert result.tax_minor == 172
    assert sum(lt.tax_minor for lt in result.lines) == 172
