"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright's Python package.

The browser tests skip with a reason when Chromium is missing, except in CI
(PUMPTRACK_REQUIRE_SERVICES=1), where a missing browser is a failure.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("PUMPTRACK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _unavailable(reason: str):
    if os.environ.get("PUMPTRACK_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (PUMPTRACK_REQUIRE_SERVICES=1: browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    # Playwright's sync API runs an event loop in this thread; without this Django
    # refuses the test's own database calls made while the browser is open.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    # A tablet in landscape: the clinic's usual screen.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.problems = problems
    yield page
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def catalogues(request):
    """Put back the rows the data migrations load (pump models, drug products, default
    message templates) when a transactional test's flush has emptied them.

    serialized_rollback is meant to do this, but after any ordinary database test has
    run in the session it restores them for the first transactional test only.
    """
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")
    from importlib import import_module

    from django.apps import apps

    loaders = [
        ("patients.PumpModel", "patients.migrations.0002_pump_catalogue", "load"),
        ("refills.DrugProduct", "refills.migrations.0002_drug_catalogue", "load"),
        (
            "reminders.MessageTemplate",
            "reminders.migrations.0002_default_message_templates",
            "create_defaults",
        ),
    ]
    for label, module, function in loaders:
        if not apps.get_model(label).objects.exists():
            getattr(import_module(module), function)(apps, None)
    yield
