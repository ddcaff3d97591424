"""The ledger benchmark still runs (short version) and reports its figure against same-run COPY baselines."""

from __future__ import annotations

import math

import pytest

from bench import bench_ledger


@pytest.mark.postgres
def test_quick_ledger_benchmark_reports_ratios_against_same_run_copies() -> None:
    figures = bench_ledger.run(quick=True)
    assert [f.baseline_name for f in figures] == [
        "raw binary COPY of the same rows into a plain table",
        "raw text COPY (as hub ingest writes sales)",
    ]
    for fig in figures:
        assert fig.value > 0 and fig.baseline > 0 and math.isfinite(fig.ratio)
        assert fig.met is None  # a short run proves it works; it does not judge the targets
        assert "ratio" in fig.line()


def test_the_benchmark_workload_only_redeems_points_customers_have() -> None:
    batches = bench_ledger.workload(sales=400, customers=20, retailers=3)
    assert all(len(b) <= bench_ledger.BATCH for b in batches)
    balances: dict[object, int] = {}
    for batch in batches:
        for t in batch:
            balances[t.credit_account_id] = balances.get(t.credit_account_id, 0) + (t.amount or 0)
            balances[t.debit_account_id] = balances.get(t.debit_account_id, 0) - (t.amount or 0)
            if t.code == "redeem":
                assert balances[t.debit_account_id] >= 0
    assert any(t.code == "redeem" for b in batches for t in b)
