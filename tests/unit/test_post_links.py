"""A channel post's tracked-link tokens (campaigns/links.py post_token_*): their own kind,
which never reads as a delivery's token, nor a delivery's token as theirs."""

from __future__ import annotations

import base64

import pytest

from campaigns import links


@pytest.fixture(autouse=True)
def _key(settings):
    settings.SECRET_KEY = "k" * 50
    settings.SECRET_KEY_FALLBACKS = []


def test_a_post_token_says_its_publication_and_link_and_is_short():
    token = links.post_token_make(publication_id=987_654, link=3)

    assert links.post_token_read(token) == links.PostToken(987_654, 3)
    assert 16 <= len(token) <= 22 and token.isascii() and "=" not in token
    assert links.TOKEN_RE.fullmatch(links.post_token_make(publication_id=0, link=0))


def test_post_tokens_and_delivery_tokens_never_read_as_each_other():
    post = links.post_token_make(publication_id=5, link=1)
    delivery = links.token_make(campaign_id=5, delivery_id=1, link=0, platform="viber")

    assert links.token_read(post) is None
    assert links.post_token_read(delivery) is None
    assert links.token_read(delivery) == links.Token(5, 1, 0, "viber")  # delivery tokens as before


def test_every_changed_character_makes_a_post_token_unknown():
    token = links.post_token_make(publication_id=12, link=0)
    for i in range(len(token)):
        other = "A" if token[i] != "A" else "B"
        assert links.post_token_read(token[:i] + other + token[i + 1:]) is None
    assert links.post_token_read(token[:-1]) is None


def test_a_post_token_for_another_publication_or_made_without_our_key_is_unknown(settings):
    token = links.post_token_make(publication_id=2, link=0)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[0] = 3  # publication 3, the MAC of publication 2
    assert links.post_token_read(base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()) is None

    settings.SECRET_KEY = "another key " * 5
    assert links.post_token_read(token) is None
    settings.SECRET_KEY_FALLBACKS = ["k" * 50]
    assert links.post_token_read(token) == links.PostToken(2, 0)


def test_a_posts_utm_medium_is_channel():
    assert links.with_utm("https://shop.example/sale?ref=x", platform="telegram", campaign="new-menu",
                          medium=links.UTM_MEDIUM_POST) == (
        "https://shop.example/sale?ref=x&utm_source=telegram&utm_medium=channel&utm_campaign=new-menu")
