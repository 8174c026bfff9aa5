"""Run inside a subprocess with the integration settings: set up data, sweep, report.

    python tests/integration/driver.py populate --n 500 --permanent-index 1
    python tests/integration/driver.py populate-downtime --n 300
    python tests/integration/driver.py sweep
    python tests/integration/driver.py report
    python tests/integration/driver.py contact    # an escalation contact (watchdog drill)

Data is written in bulk (a 5,000-patient clinic in seconds); the reminder plans
are then created by the same reconcile step production uses for imported rows.
Every person is invented.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integration.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from patients.models import Channel, Clinic, Patient, Pump, PumpModel  # noqa: E402
from refills.models import Appointment, AppointmentKind, AppointmentStatus  # noqa: E402
from reminders.models import Alert, Notification, SweepHeartbeat  # noqa: E402
from reminders.plans import plans_reconcile  # noqa: E402
from reminders.sweep import sweep_run  # noqa: E402


def daytime_zone(now: dt.datetime) -> str:
    """A fixed-offset zone where it is early afternoon now, so quiet hours never interfere."""
    offset = (13 - now.hour + 12) % 24 - 12  # UTC+offset, in [-12, 11]
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def phone(index: int) -> str:
    return f"+1202555{index:04d}" if index < 10000 else f"+1303555{index - 10000:04d}"


def _clinic(now: dt.datetime) -> Clinic:
    return Clinic.objects.create(
        name=f"Integration Clinic {now:%H%M%S%f}", timezone=daytime_zone(now), phone="+16175550100"
    )


def _patients_and_pumps(clinic: Clinic, n: int, *, email_every: int = 5) -> list[Pump]:
    model = PumpModel.objects.get(model_number="8637-20")
    patients = Patient.objects.bulk_create(
        [
            Patient(
                clinic=clinic,
                mrn=f"IT{i:06d}",
                given_name=f"Testperson{i}",
                family_name="Integration",
                date_of_birth=dt.date(1970, 1, 1),
                phone=phone(i),
                email=f"person{i}@example.org",
                preferred_channel=Channel.EMAIL if i % email_every == 0 else Channel.SMS,
                consent_sms=True,
                consent_email=True,
            )
            for i in range(n)
        ],
        batch_size=500,
    )
    return Pump.objects.bulk_create(
        [
            Pump(
                patient=p,
                clinic=clinic,  # bulk_create skips save(), which copies the patient's clinic
                model=model,
                serial_number=f"IT{clinic.pk}-{i:06d}",
                implanted_on=timezone.localdate() - dt.timedelta(days=400),
                alarm_volume_ml="2.0",
            )
            for i, p in enumerate(patients)
        ],
        batch_size=500,
    )


def _appointments(pumps: list[Pump], starts: list[dt.datetime], booked: list[dt.datetime]):
    rows = Appointment.objects.bulk_create(
        [
            Appointment(
                patient_id=pump.patient_id,
                pump=pump,
                kind=AppointmentKind.REFILL,
                scheduled_start=start,
                status=AppointmentStatus.SCHEDULED,
            )
            for pump, start in zip(pumps, starts, strict=True)
        ],
        batch_size=500,
    )
    # created_at is auto_now_add: set the booking moments afterwards, one UPDATE per moment.
    by_moment: dict[dt.datetime, list[int]] = {}
    for row, at in zip(rows, booked, strict=True):
        by_moment.setdefault(at, []).append(row.pk)
    for at, ids in by_moment.items():
        for chunk in range(0, len(ids), 500):
            Appointment.objects.filter(pk__in=ids[chunk : chunk + 500]).update(created_at=at)
    return rows


def populate(n: int, permanent_index: int | None) -> dict:
    """N appointments whose 2-day reminder fell due ten minutes ago (one message each)."""
    now = timezone.now()
    with transaction.atomic():
        clinic = _clinic(now)
        pumps = _patients_and_pumps(clinic, n)
        start = now + dt.timedelta(days=2) - dt.timedelta(minutes=10)
        _appointments(pumps, [start] * n, [now - dt.timedelta(days=30)] * n)
        plans = plans_reconcile(now=now)
    return {
        "clinic": clinic.pk,
        "zone": str(clinic.timezone),
        "plans": plans,
        "permanent_phone": phone(permanent_index) if permanent_index is not None else None,
        "sms": sum(1 for i in range(n) if i % 5),
        "email": sum(1 for i in range(n) if not i % 5),
    }


def populate_downtime(n: int) -> dict:
    """What became due while beat was stopped for an hour, at different stages.

    Appointment i is at a moment such that exactly one stage fell due at a random
    point of the last hour: its booking confirmation, or the 7-, 2- or 1-day reminder.
    The expected stage per appointment is returned so the test can check nothing
    was skipped and nothing was sent twice.
    """
    import random

    rng = random.Random(7)
    now = timezone.now()
    with transaction.atomic():
        clinic = _clinic(now)
        pumps = _patients_and_pumps(clinic, n)
        starts, booked, expected = [], [], []
        for i in range(n):
            due_ago = dt.timedelta(minutes=rng.uniform(1, 59))
            stage = ["booked", "reminder-7d", "reminder-2d", "reminder-1d"][i % 4]
            if stage == "booked":
                starts.append(now + dt.timedelta(days=20))
                booked.append(now - due_ago)
            else:
                days = int(stage.split("-")[1][:-1])
                starts.append(now + dt.timedelta(days=days) - due_ago)
                booked.append(now - dt.timedelta(days=40))
            expected.append(stage)
        rows = _appointments(pumps, starts, booked)
        plans_reconcile(now=now)
    return {
        "clinic": clinic.pk,
        "expected": {str(row.pk): stage for row, stage in zip(rows, expected, strict=True)},
    }


def contact() -> dict:
    """A clinic and its escalation contact (an invented manager with email and phone)."""
    from accounts.models import Membership, Role, User

    clinic = _clinic(timezone.now())
    user = User.objects.create(
        username=f"watch{clinic.pk}",
        first_name="Wanda",
        last_name="Watchperson",
        email=f"watch{clinic.pk}@example.org",
        phone="+12025559900",
    )
    user.set_unusable_password()
    user.save(update_fields=["password"])
    Membership.objects.create(
        user=user, clinic=clinic, role=Role.MANAGER, receives_escalations=True
    )
    return {"clinic": clinic.pk, "email": user.email, "phone": str(user.phone)}


def last_sweep() -> dict:
    row = SweepHeartbeat.objects.filter(ok=True).order_by("-finished_at").first()
    if row is None:
        return {"started_at": None, "finished_at": None}
    return {"started_at": row.started_at.isoformat(), "finished_at": row.finished_at.isoformat()}


def report() -> dict:
    rows = list(
        Notification.objects.values_list(
            "reference",
            "status",
            "channel",
            "possible_duplicates",
            "attempts",
            "stage",
            "appointment_id",
            "last_error",
        )
    )
    return {
        "by_status": dict(
            Notification.objects.values_list("status").annotate(n=Count("pk")).order_by()
        ),
        "possible_duplicates": Notification.objects.aggregate(s=Sum("possible_duplicates"))["s"]
        or 0,
        "rows": [[str(r[0]), *r[1:]] for r in rows],
        "alerts": list(Alert.objects.values("kind", "state", "reasons")),
        "heartbeats": SweepHeartbeat.objects.count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--permanent-index", type=int, default=None)
    args = parser.parse_args()
    if args.command == "populate":
        result = populate(args.n, args.permanent_index)
    elif args.command == "populate-downtime":
        result = populate_downtime(args.n)
    elif args.command == "sweep":
        sweep_report = sweep_run()
        result = sweep_report.as_dict()
    elif args.command == "report":
        result = report()
    elif args.command == "contact":
        result = contact()
    elif args.command == "last-sweep":
        result = last_sweep()
    else:
        raise SystemExit(f"unknown command {args.command}")
    json.dump(result, sys.stdout, default=str)


if __name__ == "__main__":
    main()
