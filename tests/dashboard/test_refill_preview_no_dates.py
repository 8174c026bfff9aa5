"""Issue 12 item 7: the refill preview shows no new dates while the entry cannot be saved;
it says what to fix instead."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refills import services
from tests.conftest import refill_input
from tests.dashboard.test_refill import form_data  # noqa: F401  (the fixture)

NO_DATES = "No new dates until the entry can be saved"


def _preview(client, pump, data):
    url = reverse("dashboard:refill_preview", args=[pump.patient_id])
    return client.post(url, data).content.decode()


def test_a_correct_entry_shows_the_new_dates(nurse_client, filled_pump, form_data):  # noqa: F811
    html = _preview(nurse_client, filled_pump, form_data)
    assert "preview-refill-by" in html and NO_DATES not in html


@pytest.mark.parametrize(
    ("changes", "what_to_fix"),
    [
        # 25 mL cannot go into a 20 mL reservoir.
        ({"volume_added_ml": "25", "resulting_volume_ml": "25"}, "20"),
        # 0 left + 20 added is not 17 in the pump.
        ({"resulting_volume_ml": "17"}, "17"),
    ],
)
def test_an_impossible_entry_shows_what_to_fix_and_no_dates(
    nurse_client,
    filled_pump,
    form_data,  # noqa: F811
    changes,
    what_to_fix,
):
    html = _preview(nurse_client, filled_pump, {**form_data, **changes})
    assert NO_DATES in html
    assert "preview-dates" not in html and "preview-refill-by" not in html
    assert "Fix before saving" in html and what_to_fix in html


ML = st.decimals(min_value=0, max_value=30, places=1)


# The preview writes nothing, so one pump serves every example.
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(residual=ML, left=ML, added=ML, resulting=ML)
def test_a_blocking_error_always_means_no_projected_date(
    filled_pump, nurse, residual, left, added, resulting
):
    data = refill_input(residual=residual, added=added, resulting=resulting)
    data.residual_left_ml = left
    preview = services.refill_preview(pump=filled_pump, data=data, by=nurse)
    html = render_to_string(
        "dashboard/includes/refill_preview.html",
        {"preview": preview, "tz": filled_pump.patient.clinic.tz, "refill_by_reasons": {}},
    )
    if preview.errors:
        assert preview.forecast is None
        assert "preview-dates" not in html and NO_DATES in html
    else:
        assert preview.forecast is not None and "preview-refill-by" in html
