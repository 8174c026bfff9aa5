"""Review finding: at 1366 px the manager's menu broke words ("Calenda/r", "Clini/c").
Each menu link's words stay whole, at 1366 px and at the widths around the point
where the bar collapses, with open alerts of every tier showing their counts; and
the page never scrolls sideways because of the menu."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from refills.risk import Tier
from reminders.models import Alert
from tests.conftest import verify_second_factor
from tests.factories import PatientFactory, PumpFactory, staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# How many separate line boxes the text of each menu link takes (its alert-count badges
# aside): one per link when no word is broken and the link is on one line.
LINES_PER_LINK = """() => [...document.querySelectorAll('#main-nav .nav-link')]
  .filter(a => a.offsetParent !== null)
  .map(a => {
    const tops = new Set();
    const walker = document.createTreeWalker(a, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.parentElement.closest('.badge') || !n.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(n);
      for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
    }
    return [a.textContent.trim().split(/\\s+/)[0], tops.size];
  })"""


@pytest.fixture
def manager_session(clinic, live_server):
    manager = staff(clinic, Role.MANAGER, first_name="Marge", last_name="Ledgerwood-Testmanager")
    now = timezone.now()
    for i, tier in enumerate((Tier.CRITICAL, Tier.HIGH, Tier.MODERATE)):
        patient = PatientFactory(clinic=clinic)
        pump = PumpFactory(patient=patient)
        Alert.objects.create(
            clinic=clinic,
            patient=patient,
            pump=pump,
            kind="running-out",
            severity=int(tier),
            raised_at=now - dt.timedelta(hours=i + 1),
        )
    client = Client()
    client.force_login(manager)
    verify_second_factor(client, manager)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.mark.parametrize("width", [1366, 1200, 1199, 1920, 768])
def test_the_managers_menu_links_stay_on_one_line(browser, live_server, manager_session, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US")
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": manager_session, "url": live_server.url}]
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/calendar/")
        toggler = page.locator(".navbar-toggler")
        if toggler.is_visible():
            toggler.click()
            page.locator("#main-nav.show").wait_for()
        lines = page.evaluate(LINES_PER_LINK)
        shown = [name for name, _ in lines]
        assert {"Calendar", "Patients", "Clinic", "Reports", "Alerts"} <= set(shown), shown
        assert [(name, n) for name, n in lines if n != 1] == []
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    finally:
        context.close()
