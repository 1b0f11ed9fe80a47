"""Buttons that count: tracked links through /r/<token>, sent by a real worker to the fake
Telegram, redirected with UTM parameters, each click counted once per delivery and link."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from campaigns import selectors, services
from campaigns.delivery.outbound import (
    campaign_content,
    draft_content,
    outbound_message,
    tracked_buttons,
)
from campaigns.delivery.sandbox_clicks import sandbox_clicks_apply
from campaigns.models import Campaign, Click, Delivery
from campaigns.services import privacy
from channels.base import OutboundMessage
from channels.models import OutboxMessage
from channels.sandbox import sandbox_click
from tests.conftest import (
    CampaignFactory,
    DraftFactory,
    SegmentFactory,
    SubscriberFactory,
    subscribe,
)
from tests.fakes.telegram import FakeTelegram

from .engine import Engine
from .test_delivery import TOKEN, finished, policy

S = Delivery.Status
PUBLIC = "https://go.tact.example"
SHOP = "https://shop.example/sale?ref=tg&q=a%20b"
UTM = "utm_source={}&utm_medium=messenger&utm_campaign=black-friday"


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.TACT_PUBLIC_URL = PUBLIC


def scheduled(*, body: str = "−30% today", buttons: list[dict] | None = None, track_body: bool = False,
              track: bool = True, platforms: tuple[str, ...] = ("telegram",), send_at: datetime | None = None,
              ) -> Campaign:
    draft = DraftFactory(body=body, buttons=[{"text": "Shop", "url": SHOP}] if buttons is None else buttons,
                         track_links=track, track_body_links=track_body)
    segment = SegmentFactory(rules={"tags_all": [], "tags_any": [], "platforms": [], "attributes": {}})
    send_at = send_at or timezone.now() + timedelta(days=1)
    campaign = CampaignFactory(name="Black Friday", draft=draft, segment=segment, platforms=list(platforms),
                               send_at=send_at)
    return services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5))


def sent_row(campaign: Campaign, platform: str = "telegram") -> Delivery:
    person = SubscriberFactory()
    return Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscribe(person, platform),
                                   platform=platform, list_number=1, status=S.SENT, send_after=campaign.send_at,
                                   sent_at=timezone.now())


def as_sent(campaign: Campaign, row: Delivery) -> OutboundMessage:
    """The message this delivery's person receives, as the worker builds it."""
    return outbound_message(campaign_content(campaign), delivery_id=row.pk, subscription=row.subscription,
                            subscriber=row.subscriber, window_open=True)


def path_of(url: str) -> str:
    assert url.startswith(f"{PUBLIC}/r/"), url
    return urlsplit(url).path


def counted(row: Delivery) -> tuple[list[tuple[int, str]], datetime | None]:
    row.refresh_from_db()
    return list(row.clicks.order_by("link").values_list("link", "url")), row.clicked_at


# --- through the real worker and the fake Telegram ---------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_button_sent_by_the_worker_is_tracked_redirected_with_utm_and_counted_once(tmp_path):
    policy()
    chats = [7101, 7102]
    for chat in chats:
        subscribe(SubscriberFactory(), "telegram", str(chat))
    with FakeTelegram() as fake:
        engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url,
                                   "TACT_PUBLIC_URL": PUBLIC})
        try:
            engine.start()
            soon = timezone.now() + timedelta(seconds=1)
            campaign = finished(scheduled(body="−30% today. Terms: https://shop.example/terms.", track_body=True,
                                          send_at=soon), 60, engine)
        finally:
            engine.stop()
        calls = {c.chat_id: c for c in fake.sent()}
    assert sorted(calls) == chats
    first, second = (Delivery.objects.get(campaign=campaign, subscription__address=str(chat)) for chat in chats)

    # at the fake: the button and the body link lead through /r/<token>, a token per person and link
    buttons = {chat: calls[chat].reply_markup["inline_keyboard"][0][0] for chat in chats}
    assert all(b["text"] == "Shop" and b["url"].startswith(f"{PUBLIC}/r/") for b in buttons.values())
    assert buttons[chats[0]]["url"] != buttons[chats[1]]["url"]
    assert "https://shop.example" not in calls[chats[0]].text
    body_link = calls[chats[0]].text.removeprefix("−30% today. Terms: ").removesuffix(".")
    assert body_link.startswith(f"{PUBLIC}/r/") and body_link != buttons[chats[0]]["url"]

    # a person taps the button: 302 to the exact original URL plus the UTM parameters
    web = Client()
    response = web.get(path_of(buttons[chats[0]]["url"]))
    assert response.status_code == 302
    assert response["Location"] == f"{SHOP}&{UTM.format('telegram')}"
    assert not response.cookies  # no session, no cookie
    assert counted(first)[0] == [(0, SHOP)] and counted(first)[1] is not None
    first_click = counted(first)[1]

    # tapping again counts nothing more; the first click's time stays
    assert web.get(path_of(buttons[chats[0]]["url"])).status_code == 302
    assert counted(first) == ([(0, SHOP)], first_click)

    # the body link is link 1 of the same delivery
    response = web.get(path_of(body_link))
    assert response["Location"] == f"https://shop.example/terms?{UTM.format('telegram')}"
    assert counted(first) == ([(0, SHOP), (1, "https://shop.example/terms")], first_click)

    # another person's tap counts for their own delivery
    assert counted(second) == ([], None)
    web.get(path_of(buttons[chats[1]]["url"]))
    assert counted(second)[0] == [(0, SHOP)]

    assert selectors.campaign_stats(campaign)["clicked"] == 2
    assert selectors.campaign_link_clicks(campaign) == [
        {"variant": "", "link": 0, "url": SHOP, "clicks": 2, "people": 2},
        {"variant": "", "link": 1, "url": "https://shop.example/terms", "clicks": 1, "people": 1}]


# --- the redirect -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_tampered_or_unknown_token_answers_404_and_counts_nothing():
    campaign = scheduled()
    row = sent_row(campaign)
    token = path_of(as_sent(campaign, row).buttons[0]["url"]).removeprefix("/r/")
    web = Client()
    changed = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    for path in (f"/r/{changed}", f"/r/{token[:-2]}", "/r/AAAAAAAAAAAAAAAAAAAAAAAA", "/r/https:%2F%2Fevil.example",
                 f"/r/{token}x"):
        response = web.get(path)
        assert response.status_code == 404, path
        assert "Location" not in response
    assert Click.objects.count() == 0 and Delivery.objects.filter(clicked_at__isnull=False).count() == 0


@pytest.mark.django_db
def test_a_token_for_a_link_the_content_does_not_have_answers_404():
    from campaigns import links

    campaign = scheduled()
    row = sent_row(campaign)
    token = links.token_make(campaign_id=campaign.pk, delivery_id=row.pk, link=1, platform="telegram")
    assert Client().get(f"/r/{token}").status_code == 404
    other = scheduled()
    token = links.token_make(campaign_id=other.pk, delivery_id=row.pk, link=0, platform="telegram")
    response = Client().get(f"/r/{token}")  # a valid link of another campaign: redirects, counts for nobody
    assert response.status_code == 302 and Click.objects.count() == 0


@pytest.mark.django_db
def test_head_requests_and_preview_fetchers_are_redirected_but_not_counted():
    campaign = scheduled(platforms=("viber",))
    row = sent_row(campaign, "viber")
    path = path_of(as_sent(campaign, row).buttons[0]["url"])
    web = Client()

    head = web.head(path)
    preview = web.get(path, headers={"User-Agent": "TelegramBot (like TwitterBot)"})
    unfurl = web.get(path, headers={"User-Agent": "WhatsApp/2.23.20.0 A"})

    assert [r.status_code for r in (head, preview, unfurl)] == [302, 302, 302]
    assert head["Location"] == f"{SHOP}&{UTM.format('viber')}"
    assert counted(row) == ([], None)
    assert web.post(path).status_code == 405 and Click.objects.count() == 0


@pytest.mark.django_db
def test_nothing_about_the_request_is_stored_or_logged(caplog):
    campaign = scheduled()
    row = sent_row(campaign)
    path = path_of(as_sent(campaign, row).buttons[0]["url"])
    agent, address = "Mozilla/5.0 (UniqueAgent-4711)", "203.0.113.77"

    with caplog.at_level(logging.DEBUG):
        response = Client().get(path, headers={"User-Agent": agent}, REMOTE_ADDR=address)

    assert response.status_code == 302
    click = Click.objects.get()
    stored = " ".join(str(v) for v in Click.objects.values_list().get())
    assert agent not in stored and address not in stored and (click.delivery_id, click.link) == (row.pk, 0)
    assert agent not in caplog.text and address not in caplog.text


@pytest.mark.django_db
def test_the_link_works_after_the_campaign_ended_and_after_its_ledger_was_purged(settings):
    campaign = scheduled()
    row = sent_row(campaign)
    path = path_of(as_sent(campaign, row).buttons[0]["url"])
    Client().get(path)
    ended = timezone.now() - timedelta(days=settings.TACT_RETAIN_DELIVERIES_DAYS + 1)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED, finished_at=ended)

    assert Client().get(path).status_code == 302
    privacy.retention_purge(now=timezone.now())

    campaign.refresh_from_db()
    assert not Delivery.objects.filter(pk=row.pk).exists() and Click.objects.count() == 0
    assert campaign.stats_archive["clicked"] == 1 and selectors.campaign_stats(campaign)["clicked"] == 1
    response = Client().get(path)
    assert response.status_code == 302 and response["Location"] == f"{SHOP}&{UTM.format('telegram')}"
    assert Click.objects.count() == 0


# --- what is sent ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_body_links_are_tracked_only_when_chosen_and_buttons_only_with_tracking_on():
    body = "Terms: https://shop.example/terms"
    plain = scheduled(body=body)
    row = sent_row(plain)
    message = as_sent(plain, row)
    assert message.text == body and message.buttons[0]["url"].startswith(f"{PUBLIC}/r/")

    chosen = scheduled(body=body, track_body=True)
    message = as_sent(chosen, sent_row(chosen))
    assert message.text.startswith(f"Terms: {PUBLIC}/r/")

    off = scheduled(body=body, track=False)
    message = as_sent(off, sent_row(off))
    assert message.text == body and message.buttons == [{"text": "Shop", "url": SHOP}]


@pytest.mark.django_db
def test_a_test_send_and_copy_buttons_keep_their_buttons_as_they_are():
    buttons = [{"text": "Code", "copy_text": "BF-2026"}, {"text": "Shop", "url": SHOP}]
    campaign = scheduled(buttons=buttons)
    content = campaign_content(campaign)

    assert tracked_buttons(content, buttons, delivery_id=None, platform="telegram") == buttons
    assert tracked_buttons(draft_content(campaign.draft), buttons, delivery_id=None, platform="telegram") == buttons
    tracked = tracked_buttons(content, buttons, delivery_id=sent_row(campaign).pk, platform="telegram")
    assert tracked[0] == {"text": "Code", "copy_text": "BF-2026"}
    assert tracked[1]["text"] == "Shop" and tracked[1]["url"].startswith(f"{PUBLIC}/r/")


# --- stats, the campaign page, the sandbox -------------------------------------------------


@pytest.mark.django_db
def test_stats_count_deliveries_clicked_and_the_campaign_page_shows_clicks_per_link(admin_client_api):
    campaign = scheduled(body="Terms: https://shop.example/terms", track_body=True,
                         buttons=[{"text": "Shop", "url": SHOP}, {"text": "Blog", "url": "https://blog.example/"}])
    rows = [sent_row(campaign) for _ in range(4)]
    web = Client()
    for row, links in zip(rows, ([0, 2], [0], [0, 0], []), strict=True):
        message = as_sent(campaign, row)
        urls = [b["url"] for b in message.buttons] + [message.text.removeprefix("Terms: ")]
        for link in links:
            web.get(path_of(urls[link]))

    stats = selectors.campaign_stats(campaign)
    assert (stats["sent"], stats["clicked"]) == (4, 3)
    assert selectors.campaign_stats_by_platform(campaign)["telegram"]["clicked"] == 3
    admin = User.objects.create_superuser("root", password="x-secret-123")
    page_client = Client()
    page_client.force_login(admin)
    page = page_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    table = page.split("data-link-clicks>")[1].split("</table>")[0]
    assert "Clicks per link" in table
    cells = [c for c in table.split("<td") if c.startswith((">", " "))]
    assert [c.split(">", 1)[1].split("</td")[0] for c in cells] == [
        SHOP.replace("&", "&amp;"), "3", "3", "https://blog.example/", "0", "0", "https://shop.example/terms", "1", "1"]
    assert admin_client_api.get(f"/api/campaigns/{campaign.pk}/").json()["stats"]["clicked"] == 3


@pytest.mark.django_db
def test_the_sandbox_clicks_a_share_of_its_tracked_messages_a_few_seconds_after_sending(settings):
    for name in ("TELEGRAM_BOT_TOKEN", "WHATSAPP_ACCESS_TOKEN", "VIBER_AUTH_TOKEN"):
        setattr(settings, name, "")
    campaign = scheduled(platforms=("viber",))
    rows = [sent_row(campaign, "viber") for _ in range(40)]
    sent = timezone.now()
    for row in rows:
        Delivery.objects.filter(pk=row.pk).update(platform_message_id=f"sandbox-{row.pk}", sent_at=sent)
        message = as_sent(campaign, row)
        OutboxMessage.objects.create(platform="viber", address=message.address, text=message.text,
                                     buttons=message.buttons, delivery_id=row.pk)
    OutboxMessage.objects.update(created_at=sent)
    due = {row.pk: sandbox_click(f"sandbox-{row.pk}", 1) for row in rows}

    assert sandbox_clicks_apply(now=sent + timedelta(seconds=3)) == 0
    first = sandbox_clicks_apply(now=sent + timedelta(seconds=20))
    again = sandbox_clicks_apply(now=sent + timedelta(seconds=30))

    clicking = {pk for pk, click in due.items() if click is not None}
    assert first == len(clicking) and again == 0 and 0 < len(clicking) < 40
    assert set(Click.objects.values_list("delivery_id", flat=True)) == clicking
    assert {pk: at for pk, at in Delivery.objects.filter(clicked_at__isnull=False).values_list("pk", "clicked_at")} == {
        pk: sent + due[pk].after for pk in clicking}
    assert selectors.campaign_stats(campaign)["clicked"] == len(clicking)


@pytest.mark.django_db
def test_a_marketer_turns_tracking_off_and_body_tracking_on_through_the_api(admin_client_api):
    created = admin_client_api.post("/api/drafts/", {"title": "BF", "body": "Terms: https://shop.example/terms",
                                                     "buttons": [{"text": "Shop", "url": SHOP}]}, format="json")
    assert created.status_code == 201
    assert (created.json()["track_links"], created.json()["track_body_links"]) == (True, False)

    changed = admin_client_api.patch(f"/api/drafts/{created.json()['id']}/",
                                     {"track_links": False, "track_body_links": True}, format="json")
    refused = admin_client_api.patch(f"/api/drafts/{created.json()['id']}/", {"track_links": "sometimes"},
                                     format="json")

    assert changed.status_code == 200
    assert (changed.json()["track_links"], changed.json()["track_body_links"]) == (False, True)
    assert refused.status_code == 400 and "track_links" in refused.json()


@pytest.mark.django_db
def test_the_draft_form_offers_both_choices_with_buttons_counted_by_default():
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="x-secret-123"))

    page = admin.get("/admin/campaigns/draft/add/").content.decode()

    buttons = re.search(r'<input[^>]*name="track_links"[^>]*>', page).group(0)
    body = re.search(r'<input[^>]*name="track_body_links"[^>]*>', page).group(0)
    checked = re.compile(r"\schecked(?=[\s>/])")  # the attribute, not a CSS class like "checked:bg-..."
    assert 'type="checkbox"' in buttons and checked.search(buttons)
    assert 'type="checkbox"' in body and not checked.search(body)
    assert "Count button clicks" in page and "Count clicks on links in the text" in page


@pytest.mark.django_db
def test_scheduling_measures_whatsapp_text_with_its_tracked_button_urls():
    # given: 4072 characters with the button line as typed (fits 4096), but the tracked URL is
    # longer: "https://go.tact.example/r/" and a token of up to 32 characters
    body, button = "Sale\n" + "x" * 4040, [{"text": "Shop", "url": "https://example.com/a"}]
    untracked = CampaignFactory(draft=DraftFactory(body=body, buttons=button, track_links=False),
                                platforms=["whatsapp"], send_at=timezone.now() + timedelta(hours=1))
    tracked = CampaignFactory(draft=DraftFactory(body=body, buttons=button), platforms=["whatsapp"],
                              send_at=timezone.now() + timedelta(hours=1))

    # when / then
    assert "draft" not in services.campaign_problems(untracked, now=timezone.now())
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=tracked)
    assert refused.value.by_field == {"draft": ["whatsapp: the message is 4110 characters, over the limit of 4096"]}
    assert Campaign.objects.get(pk=tracked.pk).status == Campaign.Status.DRAFT
