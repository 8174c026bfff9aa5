"""Reports 1-7: every page, CSV and PDF answers for the roles that may see reports."""

import pytest
from django.urls import reverse

from accounts.models import Role
from reports.metrics import CATALOGUE
from tests.factories import staff

KEYS = [kind.key for kind in CATALOGUE]


@pytest.mark.parametrize("key", KEYS)
def test_every_report_renders_its_page_csv_and_pdf(client, as_user, filled_pump, clinic, key):
    as_user(staff(clinic, Role.MANAGER))
    page = client.get(reverse(f"reports:{key}"))
    assert page.status_code == 200
    assert b"<svg" in page.content
    csv = client.get(reverse(f"reports:{key}_csv"))
    assert csv.status_code == 200
    b"".join(csv.streaming_content)
    pdf = client.get(reverse(f"reports:{key}_pdf"))
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
