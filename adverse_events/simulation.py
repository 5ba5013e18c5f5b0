"""Simulated lots, to show the signal rules find a bad lot and leave clean ones alone.

One clinic, `products` products of `lots_per_product` clean lots each, plus one lot planted
at `factor` times the baseline rate of every term in the first product. Each week every lot
is used in a Poisson number of sessions; each session has each reaction term independently
with the term's rate (the planted lot: `factor` times it). The simulation writes the summary
rows directly (that is all lot signals read), week by week, and runs `signals_compute()`
after each week, like the nightly run. It reports whether and when the planted lot was
flagged and how many clean lots raised a rate signal at any point (sentinel events are not
simulated: they are not false alarms).

Used by tests/adverse_events/test_signal_simulation.py and scripts/simulate_signals.py. It
writes rows: run it inside a transaction that is rolled back, or in a scratch database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from django.utils import timezone

from clinic.core.models import Clinic
from treatments.models import Product, ProductForm, ProductLot, ProductSource, Storage

from .models import LotSignal, LotTermSummary, LotWeekSummary, ReactionTerm, SignalKind
from .signals import signals_compute

# Per-session rates of the commonest reactions after exosome treatments (illustrative,
# in line with PRODUCT.md's "common, expected reactions").
BASELINE = {"redness": 0.04, "swelling": 0.03, "bruising": 0.02, "itching": 0.015, "pain": 0.01}


@dataclass
class Result:
    seed: int
    clean_lots: int
    clean_flagged: int
    planted_flagged: bool
    planted_sessions_when_flagged: int | None  # the planted lot's exposure at that point
    weeks_when_flagged: int | None
    planted_sessions_total: int

    @property
    def false_alarm_rate(self) -> float:
        return self.clean_flagged / self.clean_lots


def simulate(
    *,
    seed: int,
    products: int = 10,
    lots_per_product: int = 20,
    factor: float = 3.0,
    weeks: int = 12,
    sessions_per_week: float = 15.0,
    baseline: dict[str, float] | None = None,
) -> Result:
    rng = np.random.default_rng(seed)
    rates = baseline or BASELINE
    terms = {t.code: t for t in ReactionTerm.objects.filter(code__in=rates)}
    codes = sorted(rates)
    p = np.array([rates[c] for c in codes])

    clinic = Clinic.objects.create(name=f"Simulation {seed}", time_zone="UTC")
    lots: list[ProductLot] = []
    planted: ProductLot | None = None
    today = timezone.localdate()
    for i in range(products):
        product = Product.objects.create(
            clinic=clinic,
            name=f"Simulated serum {i}",
            manufacturer="Sim",
            source=ProductSource.ADIPOSE_MSC,
            form=ProductForm.LYOPHILISED,
            storage=Storage.REFRIGERATED,
        )
        count = lots_per_product + (1 if i == 0 else 0)
        batch = [
            ProductLot(
                product=product,
                lot_number=f"SIM-{i}-{j}",
                expiry_date=today + timedelta(days=365),
                received_on=today - timedelta(days=7 * weeks),
                quantity_received=10_000,
                quantity_on_hand=10_000,
            )
            for j in range(count)
        ]
        created = ProductLot.objects.bulk_create(batch)
        if i == 0:
            planted, created = created[0], created[1:]
        lots.extend(created)
    assert planted is not None
    everyone = [planted, *lots]
    multiplier = {lot.pk: (factor if lot is planted else 1.0) for lot in everyone}

    exposure = {lot.pk: 0 for lot in everyone}
    term_cases = {(lot.pk, c): 0 for lot in everyone for c in codes}
    first_monday = today - timedelta(days=today.weekday() + 7 * weeks)
    flagged_at: tuple[int, int] | None = None
    for week in range(weeks):
        monday: date = first_monday + timedelta(days=7 * week)
        rows = []
        for lot in everyone:
            n = int(rng.poisson(sessions_per_week))
            if n == 0:
                continue
            had = rng.random((n, len(codes))) < np.minimum(p * multiplier[lot.pk], 1.0)
            rows.append(
                LotWeekSummary(lot=lot, week=monday, sessions=n, cases=int(had.any(1).sum()))
            )
            exposure[lot.pk] += n
            for j, code in enumerate(codes):
                term_cases[lot.pk, code] += int(had[:, j].sum())
        LotWeekSummary.objects.bulk_create(rows)
        LotTermSummary.objects.filter(lot__in=everyone).delete()
        LotTermSummary.objects.bulk_create(
            LotTermSummary(lot_id=lot_id, term=terms[code], cases=k)
            for (lot_id, code), k in term_cases.items()
            if k
        )
        signals_compute()
        if flagged_at is None and _rate_flagged([planted.pk]):
            flagged_at = (week + 1, exposure[planted.pk])

    clean_flagged = len(_rate_flagged([lot.pk for lot in lots]))
    return Result(
        seed=seed,
        clean_lots=len(lots),
        clean_flagged=clean_flagged,
        planted_flagged=flagged_at is not None,
        planted_sessions_when_flagged=flagged_at[1] if flagged_at else None,
        weeks_when_flagged=flagged_at[0] if flagged_at else None,
        planted_sessions_total=exposure[planted.pk],
    )


def _rate_flagged(lot_ids: list[int]) -> set[int]:
    return set(
        LotSignal.objects.filter(kind=SignalKind.RATE, lot_id__in=lot_ids).values_list(
            "lot_id", flat=True
        )
    )
