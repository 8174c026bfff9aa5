"""The reads-never-write walk's SQL classifier: every form of write is seen, no read is."""

import pytest

from tests.architecture.sql_writes import written_table


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            'INSERT INTO "reminders_notification" ("key") VALUES (%s)',
            ("INSERT", "reminders_notification"),
        ),
        # bulk_create(ignore_conflicts=True) on SQLite: the outbox's form.
        (
            'INSERT OR IGNORE INTO "reminders_notification" ("key") VALUES (%s)',
            ("INSERT", "reminders_notification"),
        ),
        ('REPLACE INTO "django_session" VALUES (1)', ("REPLACE", "django_session")),
        (
            'UPDATE "refills_pumpforecast" SET "tier" = 3 WHERE "id" = 1',
            ("UPDATE", "refills_pumpforecast"),
        ),
        ('UPDATE OR ROLLBACK "patients_pump" SET "status" = 1', ("UPDATE", "patients_pump")),
        ('  delete from "reminders_alert" where id = 1', ("DELETE", "reminders_alert")),
        ('/* why */ DELETE FROM "reminders_alert"', ("DELETE", "reminders_alert")),
        (
            'WITH stale AS (SELECT id FROM "refills_pumpforecast") '
            'UPDATE "refills_pumpforecast" SET "tier" = 1 WHERE id IN (SELECT id FROM stale)',
            ("UPDATE", "refills_pumpforecast"),
        ),
        (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) "
            'DELETE FROM "reminders_alert" WHERE id IN (SELECT i FROM n)',
            ("DELETE", "reminders_alert"),
        ),
        (
            'WITH x AS (SELECT 1) INSERT INTO "patients_pump" ("id") SELECT 1 FROM x',
            ("INSERT", "patients_pump"),
        ),
        (
            'MERGE INTO "patients_pump" p USING src s ON p.id = s.id WHEN MATCHED THEN DELETE',
            ("MERGE", "patients_pump"),
        ),
        # PostgreSQL's data-modifying CTE under a SELECT.
        (
            'WITH gone AS (DELETE FROM "reminders_alert" RETURNING *) SELECT * FROM gone',
            ("WITH", "?"),
        ),
    ],
)
def test_writes_are_seen(sql, expected):
    assert written_table(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT "update", "delete" FROM "patients_pump" WHERE "name" = \'INSERT INTO x\'',
        "WITH x AS (SELECT 1) SELECT * FROM x",
        'SELECT 1 FROM "refills_refill" WHERE "id" IN (SELECT "id" FROM "insert_log")',
        "SAVEPOINT s1",
        "RELEASE SAVEPOINT s1",
        "BEGIN",
    ],
)
def test_reads_are_not_writes(sql):
    assert written_table(sql) is None
