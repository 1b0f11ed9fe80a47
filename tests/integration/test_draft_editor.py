"""The draft editor as a marketer uses it: button rows and a template picker instead of JSON, and
the live preview's server-drawn fragment with the same counts the sender uses."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import Permission

from campaigns.models import Draft
from tests.conftest import DraftFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/campaigns/draft/add/"
PREVIEW = "/admin/campaigns/draft/preview/"


@pytest.fixture
def marketer(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", password="x-secret-123")
    client.force_login(user)
    return client


def form(**extra) -> dict:
    return {"title": "Black Friday", "body": "Sale starts now\nDetails inside", **extra}


def errors_of(page) -> list[str]:
    """The form's error texts as shown (unfold lists each error in its own element)."""
    text = page.content.decode()
    return [html.unescape(re.sub(r"\s+", " ", m).strip()) for m in re.findall(r"<li>(.*?)</li>", text, re.S)
            if "Button" in m or "Template" in m or "Parameter" in m or "button" in m]


def section(fragment: str, platform: str) -> str:
    """One platform's part of the preview fragment, as text with tags replaced by single spaces."""
    start = fragment.index(f'<section class="tact-platform tact-{platform}"')
    html = fragment[start:fragment.index("</section>", start)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# --- saving ----------------------------------------------------------------------------------


def test_button_rows_and_template_fields_save_as_the_expected_json(marketer):
    # when: two filled rows around an untouched empty one, a template with two parameters
    answer = marketer.post(ADD, form(**{
        "buttons-text": ["Shop", "", " Sale "], "buttons-url": ["https://example.com/a", "", "http://x.ru/s?q=1"],
        "whatsapp_template-name": "black_friday", "whatsapp_template-language": "ru",
        "whatsapp_template-parameter": ["-30%", "Anna"],
    }))

    # then: saved exactly as the API stores them; the empty row is no button
    assert answer.status_code == 302, errors_of(answer)
    draft = Draft.objects.get()
    assert draft.buttons == [{"text": "Shop", "url": "https://example.com/a"},
                             {"text": "Sale", "url": "http://x.ru/s?q=1"}]
    assert draft.whatsapp_template == {"name": "black_friday", "language": "ru", "parameters": ["-30%", "Anna"]}


def test_no_rows_and_an_empty_template_name_save_no_buttons_and_no_template(marketer):
    draft = DraftFactory(whatsapp_template={"name": "old", "language": "en", "parameters": []})

    answer = marketer.post(f"/admin/campaigns/draft/{draft.pk}/change/", form(**{
        "whatsapp_template-name": "", "whatsapp_template-language": "",
    }))

    assert answer.status_code == 302, errors_of(answer)
    draft.refresh_from_db()
    assert (draft.buttons, draft.whatsapp_template) == ([], None)


def test_the_change_page_shows_the_saved_rows_in_labelled_inputs(marketer):
    draft = DraftFactory(buttons=[{"text": "Shop", "url": "https://example.com"}],
                         whatsapp_template={"name": "black_friday", "language": "ru", "parameters": ["-30%"]})

    page = marketer.get(f"/admin/campaigns/draft/{draft.pk}/change/").content.decode()

    assert re.search(r'<label for="id_buttons_1_text"[^>]*>Button 1: text</label>\s*'
                     r'<input type="text" id="id_buttons_1_text" name="buttons-text" value="Shop"', page)
    assert 'id="id_buttons_1_url" name="buttons-url" value="https://example.com"' in page
    assert 'name="whatsapp_template-name" value="black_friday"' in page
    assert 'name="whatsapp_template-language" value="ru"' in page
    assert re.search(r'<label for="id_whatsapp_template_parameter_1"[^>]*>Parameter 1</label>\s*'
                     r'<input type="text" id="id_whatsapp_template_parameter_1" name="whatsapp_template-parameter" '
                     r'value="-30%"', page)
    assert 'aria-live="polite"' in page and "/static/tact/draft_preview.js" in page


@pytest.mark.parametrize(("texts", "urls", "error"), [
    (["Shop", "Sale"], ["https://example.com", "example.com/sale"], "Button 2, URL: Enter a valid URL."),
    (["Shop", ""], ["https://example.com", "https://example.com/sale"], "Button 2, text: This field may not be blank."),
    (["Shop"], ["ftp://example.com"], "Button 1, URL: a button URL starts with https:// or http://"),
    (["A", "B", "C", "D"], ["https://a.ru", "https://b.ru", "https://c.ru", "https://d.ru"],
     "at most 3 buttons (WhatsApp shows no more)"),
])
def test_a_bad_button_row_is_refused_naming_the_row_and_field_and_nothing_is_saved(marketer, texts, urls, error):
    answer = marketer.post(ADD, form(**{"buttons-text": texts, "buttons-url": urls}))

    assert answer.status_code == 200
    assert errors_of(answer) == [error]
    assert Draft.objects.count() == 0


def test_a_bad_row_on_a_saved_draft_leaves_it_as_it_was(marketer):
    draft = DraftFactory(body="Old\nbody", buttons=[{"text": "Shop", "url": "https://example.com"}])

    answer = marketer.post(f"/admin/campaigns/draft/{draft.pk}/change/", form(**{
        "buttons-text": ["Shop"], "buttons-url": ["not a url"]}))

    assert errors_of(answer) == ["Button 1, URL: Enter a valid URL."]
    draft.refresh_from_db()
    assert (draft.body, draft.buttons) == ("Old\nbody", [{"text": "Shop", "url": "https://example.com"}])


@pytest.mark.parametrize(("fields", "error"), [
    ({"whatsapp_template-name": "Black Friday", "whatsapp_template-language": "ru"},
     "Template name: This value does not match the required pattern."),
    ({"whatsapp_template-name": "", "whatsapp_template-language": "ru"},
     "Template name: write the approved template's name, or clear language and parameters to send no template."),
    ({"whatsapp_template-name": "sale", "whatsapp_template-language": ""},
     "Template language: This field may not be blank."),
    ({"whatsapp_template-name": "sale", "whatsapp_template-language": "ru", "whatsapp_template-parameter": ["x", ""]},
     "Parameter 2: This field may not be blank."),
])
def test_a_bad_template_is_refused_naming_the_field_and_nothing_is_saved(marketer, fields, error):
    answer = marketer.post(ADD, form(**fields))

    assert answer.status_code == 200
    assert errors_of(answer) == [error]
    assert Draft.objects.count() == 0


# --- the preview -----------------------------------------------------------------------------

FAMILY = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466"  # 1 grapheme, 7 code points, 11 UTF-16 units
FLAG = "\U0001F1F7\U0001F1FA"  # 1 grapheme, 2 code points, 4 UTF-16 units
E_ACUTE = "e\u0301"  # 1 grapheme, 2 code points, 2 UTF-16 units


def test_the_preview_counts_graphemes_for_the_notification_and_the_platform_unit_for_the_message(marketer):
    # given: a first line of 121 user-perceived characters (3 combined ones and 118 letters)
    line = FAMILY + FLAG + E_ACUTE + "A" * 118
    body = line + "\nSecond line"
    text = line + " Second line"  # the bubble's two lines, as text

    # when
    answer = marketer.post(PREVIEW, {"body": body, "buttons-text": ["Shop"], "buttons-url": ["https://example.com"]})

    # then: each notification shows 119 characters and "…", the count 121 / 120 in red with the reason
    assert answer.status_code == 200
    fragment = answer.content.decode()
    shown = FAMILY + FLAG + E_ACUTE + "A" * 116 + "…"
    reason = "1 character over: the notification cuts the first line at 120 characters."
    # Telegram counts the message in UTF-16 units: 11 + 4 + 2 + 118 + 1 + 11 = 147
    assert section(fragment, "telegram") == (
        f"Telegram Telegram now Tact {shown} {text} Shop First line 121 / 120 {reason} "
        "Message (UTF-16 units: most emoji count 2) 147 / 4096")
    # WhatsApp: code points 7 + 2 + 2 + 118 + 1 + 11 = 141, and the button as a line: + 26 = 167
    assert section(fragment, "whatsapp") == (
        f"WhatsApp WhatsApp now Tact {shown} {text} Shop: https://example.com "
        f"WhatsApp free text has no buttons: each is sent as a line. First line 121 / 120 {reason} "
        "Message 167 / 4096")
    assert section(fragment, "viber") == (
        f"Viber Viber now Tact {shown} {text} Shop First line 121 / 120 {reason} Message 141 / 7000")
    assert fragment.count('<div class="tact-over">') == 3  # the first lines, shown in red
    assert fragment.count('<div class="tact-fits">') == 3  # the messages fit


def test_the_preview_says_by_how_much_a_message_is_over_its_platforms_limit(marketer):
    body = "Hi\n" + "😀" * 2047  # Telegram: 3 + 4094 = 4097 UTF-16 units; the others 2050 code points

    fragment = marketer.post(PREVIEW, {"body": body}).content.decode()

    assert section(fragment, "telegram").endswith(
        "Message (UTF-16 units: most emoji count 2) 4097 / 4096 1 over: Telegram refuses a message longer than 4096.")
    assert section(fragment, "viber").endswith("First line 2 / 120 Message 2050 / 7000")


def test_the_preview_is_refused_without_view_draft_and_allowed_with_it(client, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", password="x-secret-123", is_staff=True)
    client.force_login(clerk)

    assert client.post(PREVIEW, {"body": "Hi"}).status_code == 403

    clerk.user_permissions.add(Permission.objects.get(codename="view_draft"))
    clerk = django_user_model.objects.get(pk=clerk.pk)  # fresh permission cache
    client.force_login(clerk)
    answer = client.post(PREVIEW, {"body": "Hi"})
    assert answer.status_code == 200
    assert "First line 2 / 120" in section(answer.content.decode(), "telegram")


def test_the_preview_needs_a_staff_login(client):
    answer = client.post(PREVIEW, {"body": "Hi"})
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]


@pytest.mark.parametrize(("data", "errors"), [
    ({}, {"body": ["This field is required."]}),
    ({"body": "x" * 20_001}, {"body": ["At most 20000 characters."]}),
    ({"body": "a\x00b"}, {"body": ["Null characters are not allowed."]}),
    ({"body": "Hi", "buttons-text": ["Shop", "Sale"], "buttons-url": ["https://a.ru"]},
     {"buttons": ["Each button row needs a text and a URL input."]}),
    ({"body": "Hi", "buttons-text": ["b"] * 21, "buttons-url": ["https://a.ru"] * 21},
     {"buttons": ["At most 20 button rows."]}),
])
def test_a_malformed_preview_request_is_a_400_naming_the_field(marketer, data, errors):
    answer = marketer.post(PREVIEW, data)

    assert answer.status_code == 400
    assert answer.json() == {"errors": errors}


def test_the_preview_only_answers_posts(marketer):
    assert marketer.get(PREVIEW).status_code == 405


def test_the_body_is_counted_as_it_is_stored_trimmed_and_with_lf_line_breaks(marketer):
    # Telegram counts the stored "Hi\nthere" as 8; as typed, with a browser's CRLF and the spaces, 13
    typed = "  Hi\r\nthere\r\n "
    fragment = marketer.post(PREVIEW, {"body": typed}).content.decode()
    assert section(fragment, "telegram").endswith("Message (UTF-16 units: most emoji count 2) 8 / 4096")

    marketer.post(ADD, {"title": "T", "body": typed})
    assert Draft.objects.get().body == "Hi\nthere"
