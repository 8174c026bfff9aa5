"""Every staff page fits a phone (issue 12 #5 and #8), and the main pages are photographed.

Signed in as each role, every page of the URLconf (walked as
tests/architecture/test_reads_never_write.py walks it, with the real ids of a small
clinic) is opened at 390 px; a page that scrolls sideways fails the test. The patient's
family name is one long unbroken word, so a name that cannot wrap is caught on every
page that shows it. Screenshots of the board, the patient page, the messages page and
the refill form at 1366 px and 390 px go to test-artifacts/.

One live server and one browser for the module: the data is built once per test, and
each role gets a browser context carrying a fully signed-in (two-factor) session.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.architecture.test_reads_never_write import ROUTES, SKIPPED, demo_clinic  # noqa: F401
from tests.conftest import verify_second_factor
from tests.security.test_cross_clinic_walk import clinic_b, fill  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
ROLES = ("manager", "nurse", "physician", "scheduler", "auditor")
# A name with no place to break it: the layout must wrap it, not widen the page.
LONG_NAME = "Farclinicsonwithaverylongunbrokenfamilynamethatcannotwrapanywhere"
# Not staff pages: the operators' admin, the webhooks and health check, sign-out, files.
NOT_STAFF_PAGES = {
    "reminders:healthz",
    "reminders:twilio-status",
    "reminders:twilio-inbound",
    "dashboard:emergency_card_pdf",
    "reports:activity_csv",
}


def _staff_pages() -> list[tuple[str, str]]:
    return [
        (route, name)
        for route, name in ROUTES
        if name
        and not name.startswith("admin:")
        and name not in SKIPPED
        and name not in NOT_STAFF_PAGES
    ]


@pytest.fixture
def walk_clinic(demo_clinic):  # noqa: F811 - the reads-never-write walk's clinic
    patient = demo_clinic["patient"]
    patient.family_name = LONG_NAME
    patient.save(update_fields=["family_name"])
    return demo_clinic


def _signed_in(browser, live_server, user, viewport):
    """A browser context whose session cookie is a complete (two-factor) sign-in."""
    client = Client()
    client.force_login(user)
    verify_second_factor(client, user)
    context = browser.new_context(viewport=viewport, locale="en-US")
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return context


def _scrolls_sideways(page) -> int:
    """How many pixels the page is wider than the window (0: it fits)."""
    return page.evaluate(
        "() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"
    )


# The elements that stick out while their parent does not: where to look when a page fails.
CULPRITS = """() => {
  const width = window.innerWidth, found = [];
  for (const el of document.body.querySelectorAll("*")) {
    const parent = el.parentElement;
    if (el.getBoundingClientRect().right > width + 1
        && !(parent && parent.getBoundingClientRect().right > width + 1)) {
      const css = typeof el.className === "string" ? el.className.trim().split(/\\s+/) : [];
      found.push([el.tagName.toLowerCase(), ...css.filter(Boolean)].join("."));
    }
  }
  return found.slice(0, 4);
}"""


def _is_a_page(context, url) -> bool:
    """True when the URL answers with an HTML page (not a file, a refusal or a 405)."""
    answer = context.request.get(url)
    return answer.status == 200 and "text/html" in answer.headers.get("content-type", "")


def test_no_staff_page_scrolls_sideways_on_a_phone(browser, live_server, walk_clinic):
    pages = _staff_pages()
    too_wide, shown = [], set()
    for role in ROLES:
        context = _signed_in(browser, live_server, walk_clinic[role], PHONE)
        page = context.new_page()
        page.set_default_timeout(15_000)
        for route, name in pages:
            path = fill(route, name, walk_clinic)
            if not _is_a_page(context, f"{live_server.url}{path}"):
                continue
            page.goto(f"{live_server.url}{path}")
            if LONG_NAME in page.content():
                shown.add(name)
            extra = _scrolls_sideways(page)
            if extra:
                culprits = ", ".join(page.evaluate(CULPRITS))
                too_wide.append(f"{role} {path} ({name}): {extra}px too wide: {culprits}")
        context.close()
    assert not too_wide, "\n".join(too_wide)
    # The walk really showed the long name on the pages that carry it.
    assert {"dashboard:board", "dashboard:patient", "reminders:messages"} <= shown


SHOTS = {
    "board": lambda rows: reverse("dashboard:board"),
    "patient": lambda rows: reverse("dashboard:patient", args=[rows["patient"].pk]),
    "messages": lambda rows: reverse("reminders:messages"),
    "refill-form": lambda rows: reverse("dashboard:refill_create", args=[rows["patient"].pk]),
}


def test_screenshots_of_the_main_pages_at_desktop_and_phone_widths(
    browser, live_server, walk_clinic, artifacts
):
    nurse = walk_clinic["nurse"]
    for label, viewport in (("1366", DESKTOP), ("390", PHONE)):
        context = _signed_in(browser, live_server, nurse, viewport)
        page = context.new_page()
        for name, url in SHOTS.items():
            response = page.goto(f"{live_server.url}{url(walk_clinic)}")
            assert response.status == 200, (name, response.status)
            assert _scrolls_sideways(page) == 0, (name, label)
            page.screenshot(path=str(artifacts / f"fits-{name}-{label}.png"), full_page=True)
        _check_impossible_refill_shows_no_dates(page, live_server, walk_clinic, artifacts, label)
        _check_message_history_opens(page, live_server, artifacts, label)
        if label == "390":
            _check_phone_board_and_chart(page, live_server, walk_clinic)
        context.close()


def _check_phone_board_and_chart(page, live_server, rows):
    """At 390 px the board is a card per pump and the chart fits and shows today."""
    page.goto(f"{live_server.url}{reverse('dashboard:board')}")
    row = page.locator("tr.tier-row").first
    assert row.evaluate("el => getComputedStyle(el).display") == "block"
    labels = row.locator("td[data-label]").evaluate_all(
        "cells => cells.filter(c => c.offsetParent !== null)"
        ".map(c => getComputedStyle(c, '::before').content)"
    )
    assert labels == ['"Refill by: "', '"Next refill: "'], labels
    assert row.locator(".patient-link").is_visible() and row.locator(".tier-badge").is_visible()
    assert page.locator("table.board-table thead").first.bounding_box()["width"] <= 1
    page.goto(f"{live_server.url}{reverse('dashboard:patient', args=[rows['patient'].pk])}")
    chart = page.locator("svg.reservoir-chart")
    box = chart.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    today = page.locator("svg.reservoir-chart .chart-marker-today").first.bounding_box()
    assert box["x"] + box["width"] * 0.4 <= today["x"] <= box["x"] + box["width"] * 0.6
    alarm = page.locator("svg.reservoir-chart .chart-alarm").first.bounding_box()
    assert alarm["width"] > 0 and alarm["x"] + alarm["width"] <= PHONE["width"] + 1
    refill_by = page.locator("svg.reservoir-chart .chart-marker-refill-by")
    if refill_by.count():
        mark = refill_by.first.bounding_box()
        assert box["x"] <= mark["x"] <= box["x"] + box["width"]


def _check_impossible_refill_shows_no_dates(page, live_server, rows, artifacts, label):
    """25 mL into a 20 mL pump: the live preview says what to fix and shows no date."""
    page.goto(f"{live_server.url}{reverse('dashboard:refill_create', args=[rows['patient'].pk])}")
    page.fill("#id_actual_residual_ml", "14")
    page.fill("#id_lot_number", "LOT-42")
    page.fill("#id_lot_expiry", (timezone.localdate() + dt.timedelta(days=365)).isoformat())
    page.fill("#id_volume_added_ml", "25")
    page.fill("#id_resulting_volume_ml", "25")
    page.locator(".preview-no-dates").wait_for()
    preview = page.locator("#refill-preview")
    assert preview.locator(".preview-dates").count() == 0
    assert "Fix before saving" in preview.inner_text()
    # The debounced preview may post once more: let it finish before the next page (one
    # SQLite test database behind a threaded live server answers one writer at a time).
    page.wait_for_load_state("networkidle")
    preview.screenshot(path=str(artifacts / f"fits-refill-preview-blocked-{label}.png"))
    assert _scrolls_sideways(page) == 0


def _check_message_history_opens(page, live_server, artifacts, label):
    """A message's text is on the page; its history and references open under it."""
    page.goto(f"{live_server.url}{reverse('reminders:messages')}")
    first = page.locator(".message-detail").first
    assert first.locator(".message-body").is_visible()
    first.locator(".message-history summary").click()
    assert first.locator(".message-events li").first.inner_text().startswith("Queued")
    assert first.locator(".message-refs").is_visible()
    first.screenshot(path=str(artifacts / f"fits-message-{label}.png"))
    assert _scrolls_sideways(page) == 0
