"""Placeholders: what is allowed, what is refused (named), and how a person's text renders."""

from __future__ import annotations

import pytest

from campaigns.personalise import (
    PlaceholderError,
    Values,
    check,
    render,
    render_buttons,
    render_template,
    uses_coupon,
)

IVAN = Values(name="Иван Петров", attributes={"city": "Омск", "visits": 3, "vip": None}, coupon="SALE-7")
NOBODY = Values(name="", attributes={}, coupon="")


def test_each_placeholder_renders_this_persons_value():
    text = "Привет, {{ name }}! {{first_name}} из {{ attributes.city }}, {{ attributes.visits }} визита, код {{ coupon }}"
    assert render(text, IVAN) == "Привет, Иван Петров! Иван из Омск, 3 визита, код SALE-7"


def test_a_missing_value_renders_its_default_or_nothing():
    text = '{{ first_name|default:"друг" }}, {{ attributes.city|default:\'ваш город\' }}.{{ attributes.vip }}{{ name }}'
    assert render(text, NOBODY) == "друг, ваш город."
    assert render(text, IVAN) == "Иван, Омск.Иван Петров"


def test_values_are_not_html_escaped_and_defaults_keep_escaped_quotes():
    person = Values(name='<b>Tom & "Jerry"</b>')
    assert render('{{ name }} {{ attributes.x|default:"say \\"hi\\"" }}', person) == '<b>Tom & "Jerry"</b> say "hi"'


@pytest.mark.parametrize(("text", "named"), [
    ("Hi {{ nme }}", "{{ nme }}"),
    ("Hi {{ name.first }}", "{{ name.first }}"),
    ("Hi {{ attributes. }}", "{{ attributes. }}"),
    ("Hi {{ name|upper }}", "{{ name|upper }}"),
    ('Hi {{ name|default:"a"|lower }}', '{{ name|default:"a"|lower }}'),
    ("Hi {{ name|default }}", "{{ name|default }}"),
    ("{% if name %}x{% endif %}", "{% if name %}"),
    ("{# note #}", "{# note #}"),
    ("Hi {{ name", "{{ name"),
    ("Hi name }}", "}}"),
    ("Hi {{ name\n}}", "{{ name"),
    ('{{ name|default:"{{" }}', '{{ name|default:"{{" }}'),
])
def test_anything_else_is_refused_naming_it(text, named):
    with pytest.raises(PlaceholderError) as refused:
        check(text)
    assert named in str(refused.value)


def test_no_template_mark_ever_leaves_a_valid_text():
    texts = ["{{ name }}", '{{ attributes.a|default:"" }}', "{{ coupon }}{{ first_name }}"]
    for text in texts:
        for person in (IVAN, NOBODY):
            assert "{{" not in render(text, person) and "}}" not in render(text, person)


def test_buttons_and_template_parameters_are_rendered_url_values_encoded():
    buttons = [{"text": "Copy code", "copy_text": "{{ coupon }}"},
               {"text": "Shop, {{ first_name }}", "url": "https://shop.example/?c={{ coupon }}&n={{ name }}"}]
    assert render_buttons(buttons, IVAN) == [
        {"text": "Copy code", "copy_text": "SALE-7"},
        {"text": "Shop, Иван", "url": "https://shop.example/?c=SALE-7&n=%D0%98%D0%B2%D0%B0%D0%BD%20%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2"},
    ]
    template = {"name": "promo", "language": "ru", "parameters": ["{{ first_name }}", '{{ attributes.x|default:"-" }}']}
    assert render_template(template, IVAN) == {"name": "promo", "language": "ru", "parameters": ["Иван", "-"]}
    assert uses_coupon(["a", "b {{ coupon }}"]) and not uses_coupon(["{{ name }}", "coupon"])
