"""Tracked-link tokens, body links and UTM parameters (campaigns/links.py): pure functions."""

from __future__ import annotations

import base64

import pytest

from campaigns import links


@pytest.fixture(autouse=True)
def _key(settings):
    settings.SECRET_KEY = "k" * 50
    settings.SECRET_KEY_FALLBACKS = []


def test_a_token_says_what_it_was_made_with_and_is_short():
    token = links.token_make(campaign_id=4321, delivery_id=9_876_543_210, link=7, platform="whatsapp")

    assert links.token_read(token) == links.Token(4321, 9_876_543_210, 7, "whatsapp")
    assert len(token) <= 26 and token.isascii() and "=" not in token


def test_every_changed_character_makes_a_token_unknown():
    token = links.token_make(campaign_id=1, delivery_id=2, link=0, platform="telegram")
    for i in range(len(token)):
        other = "A" if token[i] != "A" else "B"
        assert links.token_read(token[:i] + other + token[i + 1:]) is None
    assert links.token_read(token[:-1]) is None
    assert links.token_read(token + "A") is None


def test_a_token_made_without_our_key_or_for_another_delivery_is_unknown(settings):
    token = links.token_make(campaign_id=1, delivery_id=2, link=0, platform="telegram")
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[1] = 3  # delivery 3, the MAC of delivery 2
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert links.token_read(forged) is None

    settings.SECRET_KEY = "another key " * 5
    assert links.token_read(token) is None
    settings.SECRET_KEY_FALLBACKS = ["k" * 50]  # the key was rotated: old messages keep working
    assert links.token_read(token) == links.Token(1, 2, 0, "telegram")


@pytest.mark.parametrize("junk", ["", "short", "../../etc/passwd", "a" * 200, "zz==zz==zz==zz==zz", "é" * 20])
def test_junk_is_no_token(junk):
    assert links.token_read(junk) is None


def test_utm_parameters_are_added_to_the_links_own_query_and_the_rest_is_kept_byte_for_byte():
    assert links.with_utm("https://shop.example/sale", platform="telegram", campaign="black-friday") == (
        "https://shop.example/sale?utm_source=telegram&utm_medium=messenger&utm_campaign=black-friday")
    assert links.with_utm("https://shop.example/a%20b?q=x%20y&ref=tg#top", platform="viber", campaign="bf") == (
        "https://shop.example/a%20b?q=x%20y&ref=tg&utm_source=viber&utm_medium=messenger&utm_campaign=bf#top")
    assert links.with_utm("https://shop.example/?", platform="viber", campaign="bf") == (
        "https://shop.example/?utm_source=viber&utm_medium=messenger&utm_campaign=bf")


def test_a_utm_parameter_the_marketer_wrote_is_kept_as_written():
    assert links.with_utm("https://shop.example/?utm_source=promo&utm_campaign=", platform="whatsapp",
                          campaign="bf") == "https://shop.example/?utm_source=promo&utm_campaign=&utm_medium=messenger"


def test_body_links_end_before_punctuation_and_unopened_parentheses():
    text = ("Sale: https://shop.example/a. See (https://shop.example/b), https://wiki.example/A_(b)!\n"
            "«https://shop.example/c» and http://old.example/?q=1&r=2 end")
    assert [text[s:e] for s, e in links.body_links(text)] == [
        "https://shop.example/a", "https://shop.example/b", "https://wiki.example/A_(b)",
        "https://shop.example/c", "http://old.example/?q=1&r=2"]
    assert links.body_links("no links, just https:// and ftp://x.example") == []


def test_tracked_links_are_url_buttons_first_then_body_links_and_copy_buttons_are_not_links():
    buttons = [{"text": "Code", "copy_text": "BF-1"}, {"text": "Shop", "url": "https://shop.example/"}]
    body = "Also https://shop.example/terms"
    assert links.tracked_links(buttons, body, track_buttons=True, track_body=True) == [
        "https://shop.example/", "https://shop.example/terms"]
    assert links.tracked_links(buttons, body, track_buttons=True, track_body=False) == ["https://shop.example/"]
    assert links.tracked_links(buttons, body, track_buttons=False, track_body=True) == ["https://shop.example/terms"]


def test_preview_fetchers_are_told_apart_from_people():
    assert links.is_preview_agent("TelegramBot (like TwitterBot)")
    assert links.is_preview_agent("WhatsApp/2.23.20.0 A")
    assert links.is_preview_agent("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)")
    assert not links.is_preview_agent(
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36")
    assert not links.is_preview_agent("")
