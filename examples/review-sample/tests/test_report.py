"""Tests of the plain-text report."""

from ledger import settings
from ledger.report import render


def test_render_lists_entries_then_the_total():
    text = render([("rent", 90000), ("food", 12550)])
    assert text.splitlines() == [
        "rent: 900.00 EUR",
        "food: 125.50 EUR",
        "2 entries, total 1025.50 EUR",
    ]


def test_export_settings_name_a_region():
    assert settings.EXPORT_REGION
