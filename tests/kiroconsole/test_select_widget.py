"""templates/django/forms/widgets/select.html writes Django's select without an include per option: the HTML must
be exactly what Django's own templates write, for every kind of select."""

from __future__ import annotations

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer

CHOICES = [
    ("", "Any"),
    ("PRO", "Pro"),
    ("PRO_PLUS", 'Pro+ <b>"&'),
    ("Teams", [("a", "Alpha"), ("b", "Bravo & co")]),
    (7, "Seven"),
]


@pytest.mark.parametrize(
    ("widget", "value"),
    [
        (forms.Select(choices=CHOICES), "PRO_PLUS"),
        (forms.Select(choices=CHOICES), None),
        (forms.Select(choices=CHOICES, attrs={"class": "x", "aria-describedby": "h", "required": True}), "b"),
        (forms.Select(choices=CHOICES), 7),
        (forms.SelectMultiple(choices=CHOICES), ["PRO", "a"]),
        (forms.NullBooleanSelect(), True),
    ],
)
def test_the_select_is_the_html_of_djangos_own_templates(widget, value):
    assert not isinstance(get_default_renderer(), DjangoTemplates)  # the project's renderer is in use
    mine = widget.render("tier", value, attrs={"id": "id_tier"})
    django = widget.render("tier", value, attrs={"id": "id_tier"}, renderer=DjangoTemplates())
    assert mine == django
    assert "<option" in mine
