"""How fast reports 1-7 answer for one clinic of N patients (default 100,000).

Not a test: run it by hand on PostgreSQL, on its own database, e.g.

    createdb -h 127.0.0.1 -U postgres pumptrack_bench
    DJANGO_SETTINGS_MODULE=pumptrack.settings.local \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pumptrack_bench \\
    .venv/bin/python benchmarks/reports_bench.py --patients 100000

What it measures: the wall time of each report's selector (reports.metrics, every SQL
query of the report and the Python that shapes its tables, not the template or the PDF),
the best and the median of --runs runs after one warm-up run, with the query count. The
target is < 300 ms per report at 100,000 patients in one clinic.

The data is written with bulk_create, not through the services (which would take hours
at this size): the services' rules do not matter to a read benchmark, the row counts and
the value spread do. Per patient: one active pump, one program, two refills in the last
year (one late in 8), one appointment (one missed in 10), a stored forecast spread over
the tiers and the next 120 days; one alert per 20 patients; one message per patient;
a year of daily tier snapshots. Invented data only. With --keep the rows stay for the
next run (pass --reuse); otherwise the clinic is left in place too, the database is the
benchmark's own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pumptrack.settings.local")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from patients.models import Clinic, Patient, Pump, PumpModel  # noqa: E402
from refills.models import Appointment, DrugProduct, DrugProgram, PumpForecast, Refill  # noqa: E402
from reminders.models import Alert, Notification  # noqa: E402
from reports import metrics  # noqa: E402
from reports.models import TierSnapshot  # noqa: E402

NAME = "Bench clinic (invented)"
BATCH = 5000


def _batches(n: int):
    for start in range(0, n, BATCH):
        yield range(start, min(n, start + BATCH))


def build(n: int) -> Clinic:
    clinic = Clinic.objects.create(name=NAME, timezone="America/New_York", phone="+16175550100")
    user = User.objects.create(username=f"bench-{clinic.pk}")
    model = PumpModel.objects.get(model_number="8637-20")
    product = DrugProduct.objects.filter(concentration_mcg_per_ml=2000).first()
    now = timezone.now()
    today = timezone.localdate()
    for chunk in _batches(n):
        with transaction.atomic():
            patients = Patient.objects.bulk_create(
                Patient(
                    clinic=clinic,
                    mrn=f"B{i:07d}",
                    given_name=f"Given{i}",
                    family_name=f"Family{i % 997}",
                    date_of_birth=dt.date(1970, 1, 1),
                    consent_sms=i % 15 != 0,
                    prior_withdrawal=i % 40 == 0,
                )
                for i in chunk
            )
            pumps = Pump.objects.bulk_create(
                Pump(
                    patient=p,
                    model=model,
                    serial_number=f"BN{clinic.pk}-{i}",
                    implanted_on=today - dt.timedelta(days=100 + (i * 7) % 2500),
                    alarm_volume_ml=Decimal(2),
                    eri_on=today - dt.timedelta(days=5) if i % 300 == 0 else None,
                    planned_replacement_on=today + dt.timedelta(days=60) if i % 600 == 0 else None,
                )
                for i, p in zip(chunk, patients, strict=True)
            )
            programs = DrugProgram.objects.bulk_create(
                DrugProgram(
                    pump=p,
                    effective_from=now - dt.timedelta(days=400),
                    drug_product=product,
                    concentration_mcg_per_ml=Decimal(2000),
                    basal_daily_dose_mcg=Decimal(400),
                    daily_dose_mcg=Decimal(400),
                    created_by=user,
                )
                for p in pumps
            )
            refills = []
            for i, pump, program in zip(chunk, pumps, programs, strict=True):
                for k in (1, 2):
                    when = now - dt.timedelta(days=(i % 90) + 150 * (k - 1) + 1, hours=i % 24)
                    late = i % 8 == 0
                    refills.append(
                        Refill(
                            pump=pump,
                            performed_at=when,
                            performed_by=user,
                            actual_residual_ml=Decimal(3),
                            volume_added_ml=Decimal(18),
                            resulting_volume_ml=Decimal(20),
                            drug_product=product,
                            concentration_mcg_per_ml=Decimal(2000),
                            lot_number="LOT-B",
                            needle_placement="template-and-stop",
                            needle_placement_confirmed=True,
                            program=program,
                            alarm_volume_ml=Decimal(2),
                            due_by=(when - dt.timedelta(days=2 if late else -2)).date(),
                            performed_on_time=not late,
                            discrepancy_flagged=i % 50 == 0,
                            discrepancy_ml=Decimal("-2.5") if i % 50 == 0 else None,
                        )
                    )
            Refill.objects.bulk_create(refills)
            Appointment.objects.bulk_create(
                Appointment(
                    patient=p.patient,
                    pump=p,
                    scheduled_start=now - dt.timedelta(days=i % 170),
                    status="missed" if i % 10 == 0 else "completed",
                )
                for i, p in zip(chunk, pumps, strict=True)
            )
            PumpForecast.objects.bulk_create(
                PumpForecast(
                    pump=p,
                    computed_at=now,
                    refill_by=today + dt.timedelta(days=(i % 130) - 10),
                    refill_by_reason="alarm",
                    risk_tier=1 + (i % 4 == 0) + (i % 16 == 0) + (i % 64 == 0),
                    booked_before_refill_by=i % 3 != 0,
                )
                for i, p in zip(chunk, pumps, strict=True)
            )
            Alert.objects.bulk_create(
                Alert(
                    clinic=clinic,
                    patient=p.patient,
                    pump=p,
                    kind="running-out",
                    severity=4 if i % 100 == 0 else 3,
                    state="resolved",
                    raised_at=now - dt.timedelta(days=i % 170),
                    acknowledged_at=now - dt.timedelta(days=i % 170, hours=-2),
                    resolved_at=now - dt.timedelta(days=i % 170 - 1),
                    resolved_by=user,
                )
                for i, p in zip(chunk, pumps, strict=True)
                if i % 20 == 0
            )
            Notification.objects.bulk_create(
                Notification(
                    key=f"bench-{clinic.pk}-{i}",
                    kind="appointment-reminder",
                    clinic=clinic,
                    patient=p.patient,
                    channel="sms",
                    body="Invented",
                    status="failed" if i % 30 == 0 else "delivered",
                    last_error="30003" if i % 30 == 0 else "",
                    created_at=now - dt.timedelta(days=i % 170),
                )
                for i, p in zip(chunk, pumps, strict=True)
            )
        print(f"  {chunk.stop} patients written", flush=True)
    TierSnapshot.objects.bulk_create(
        TierSnapshot(
            clinic=clinic, day=today - dt.timedelta(days=d), taken_at=now, low=n // 2, high=n // 4
        )
        for d in range(365)
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")
    return clinic


def measure(clinic: Clinic, runs: int) -> list[tuple[str, float, float, int]]:
    today = timezone.localtime(timezone.now(), clinic.tz).date()
    scope = metrics.Scope(
        clinic_ids=(clinic.pk,),
        tz=clinic.tz,
        since=today - dt.timedelta(days=181),
        until=today,
        today=today,
    )
    results = []
    for kind in metrics.CATALOGUE:
        kind.build(scope=scope)  # warm-up: caches, plans
        times = []
        for _ in range(runs):
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                kind.build(scope=scope)
                times.append((time.perf_counter() - start) * 1000)
        results.append(
            (kind.key, min(times), statistics.median(times), len(queries.captured_queries))
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="use the bench clinic already there")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    clinic = Clinic.objects.filter(name=NAME).first() if args.reuse else None
    if clinic is None:
        Clinic.objects.filter(name=NAME).update(name=f"{NAME} old {timezone.now():%H%M%S}")
        print(f"Writing {args.patients} patients ({connection.vendor})...", flush=True)
        clinic = build(args.patients)
    print(f"{'report':<14}{'best ms':>10}{'median ms':>12}{'queries':>9}")
    for key, best, median, queries in measure(clinic, args.runs):
        flag = "" if median < 300 else "  over 300 ms"
        print(f"{key:<14}{best:>10.1f}{median:>12.1f}{queries:>9}{flag}")


if __name__ == "__main__":
    main()
