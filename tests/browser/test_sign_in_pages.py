"""Issue 12 #8 (sign-in parts) in a real browser at desktop and phone widths: the
last-attempt warning, the lock-out page's way back, the menu's name and role, and the
signed-out confirmation. Screenshots in test-artifacts/; no page scrolls sideways."""

import pytest

from accounts.models import Membership, Role
from tests.factories import ClinicFactory, staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "correct horse battery"  # noqa: S105
WIDTHS = {"desktop": 1366, "phone": 390}


@pytest.fixture
def people(db):
    harbour = ClinicFactory(name="Harbour ITB Clinic")
    hilltop = ClinicFactory(name="Hilltop Clinic")
    nina = staff(harbour, Role.NURSE, username="nina", first_name="Demo", last_name="Login")
    Membership.objects.create(user=nina, clinic=hilltop, role=Role.SCHEDULER)
    nina.set_password(PASSWORD)
    nina.save()
    return {"nina": nina}


def _no_sideways_scroll(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def _sign_in(page, url, username, password):
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("size", list(WIDTHS))
def test_sign_in_pages(browser, live_server, people, artifacts, size):
    context = browser.new_context(viewport={"width": WIDTHS[size], "height": 844}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        # Four wrong passwords: the fourth page warns that one attempt is left.
        for _ in range(4):
            _sign_in(page, live_server.url, "locked.out.user", "wrong password")
        warning = page.locator("#last-attempt")
        assert "One attempt left before a lock-out of 15 minutes" in warning.inner_text()
        _no_sideways_scroll(page)
        page.screenshot(path=str(artifacts / f"sign-in-last-attempt-{size}.png"), full_page=True)

        # The fifth: the lock-out page, with a way back.
        _sign_in(page, live_server.url, "locked.out.user", "wrong password")
        assert "Too many failed sign-ins" in page.content()
        back = page.locator("#back-to-sign-in")
        assert back.get_attribute("href") == "/accounts/login/"
        assert "clinic manager" in page.content()
        _no_sideways_scroll(page)
        page.screenshot(path=str(artifacts / f"sign-in-locked-out-{size}.png"), full_page=True)

        # A colleague on the same computer signs in; the menu shows name and roles.
        _sign_in(page, live_server.url, "nina", PASSWORD)
        assert page.url == f"{live_server.url}/"
        toggler = page.locator(".navbar-toggler")
        if toggler.is_visible():
            toggler.click()
            # Bootstrap's collapse animates: wait until it has finished opening.
            page.locator("#main-nav.collapse.show").wait_for(state="visible")
        menu = page.locator("#user-menu")
        menu.wait_for(state="visible")
        text = menu.inner_text()
        assert "Demo Login" in text
        assert "Nurse at Harbour ITB Clinic, Scheduler at Hilltop Clinic" in text
        _no_sideways_scroll(page)
        page.screenshot(path=str(artifacts / f"sign-in-user-menu-{size}.png"), full_page=False)

        # Signing out says so and offers the way back in.
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        assert "You are signed out of pumptrack" in page.locator("#signed-out").inner_text()
        assert page.get_by_role("button", name="Sign in").is_visible()
        _no_sideways_scroll(page)
        page.screenshot(path=str(artifacts / f"sign-in-signed-out-{size}.png"), full_page=True)
    finally:
        context.close()
