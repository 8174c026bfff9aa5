"""Clinical rules live below the pages (issue 10 review): an API or any other page must be
able to import the proposed refill appointment, the date flags and the alert reads without
the dashboard. The page layer keeps only presentation."""

import importlib.util
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "page_module", ["dashboard.scheduling", "dashboard.dates", "dashboard.alerts"]
)
def test_the_page_layer_holds_no_clinical_rule_module(page_module):
    assert importlib.util.find_spec(page_module) is None


def test_the_rules_import_without_the_dashboard():
    code = (
        "import sys\n"
        "import django, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'pumptrack.settings.test')\n"
        "django.setup()\n"
        "from refills.scheduling import latest_safe_start\n"
        "from refills.shown_dates import shown_dates\n"
        "from reminders.selectors import alert_inbox, alerts_for_patient, critical_alerts_for\n"
        # django.setup() loads every installed app's package and AppConfig, nothing more.
        "loaded = {m for m in sys.modules if m.split('.')[0] == 'dashboard'}\n"
        "print(sorted(loaded - {'dashboard', 'dashboard.apps'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout


def test_the_proposal_is_pure():
    code = "import sys, refills.scheduling; print('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
