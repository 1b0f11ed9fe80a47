"""Two Telegram bots as two sender accounts, each with its own token, ceiling and audience:
a campaign on each, at the same time, through real workers to a fake Bot API per bot. Each
person gets exactly one message, through the bot they subscribed to; each fake sees no more
than its bot's ceiling in any second. An inactive account's lists wait, saying why."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, Delivery, SenderAccount, SendList, Subscriber, Subscription
from campaigns.services.sender_accounts import account_save
from channels.models import OutboxMessage
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes.telegram import FakeTelegram

from .engine import Engine, wait_until
from .test_delivery import _tags, finished, policy, statuses

pytestmark = pytest.mark.django_db(transaction=True)
S = Delivery.Status
TOKEN_A = "111111:bot-A-token"
TOKEN_B = "222222:bot-B-token"
DEFAULT_TOKEN = "999999:the-environment's-bot"


@pytest.fixture
def fakes():
    """One fake Bot API per bot, each taking only its own token (another answers 401), with
    Telegram's flood control at that bot's ceiling; and one for the default bot."""
    with FakeTelegram(token=TOKEN_A) as a, FakeTelegram(token=TOKEN_B) as b, \
            FakeTelegram(token=DEFAULT_TOKEN) as default:
        a.configure(ceiling=5)
        b.configure(ceiling=12)
        yield a, b, default


@pytest.fixture
def engine(tmp_path, fakes):
    _, _, default = fakes
    engine = Engine(tmp_path, {
        "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_URL": default.base_url,
        # several lists per campaign, so that both workers send each bot's messages at once
        "TACT_LIST_SIZE_TELEGRAM": "10",
    })
    yield engine
    engine.stop()


def bot(slug: str, token: str, fake: FakeTelegram, rate: float) -> SenderAccount:
    """A sender account as an operator saves it (credentials encrypted)."""
    return account_save(account=SenderAccount(), values={
        "platform": "telegram", "name": f"Bot {slug}", "slug": slug, "rate_per_second": rate, "active": True,
    }, credentials={"token": token, "api_url": fake.root_url, "webhook_secret": f"secret-of-{slug}"})


def press_start(web: Client, account: SenderAccount, chat_id: int, update_id: int) -> None:
    """The person presses Start in `account`'s bot: Telegram posts the update to that bot's
    own webhook path, with that bot's secret."""
    update = {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": "/start",
        "chat": {"id": chat_id, "type": "private", "first_name": f"Person {chat_id}"},
        "from": {"id": chat_id, "is_bot": False, "first_name": f"Person {chat_id}", "language_code": "en"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
    answer = web.post(f"/webhooks/telegram/{account.slug}/", json.dumps(update), content_type="application/json",
                      HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=f"secret-of-{account.slug}")
    assert answer.status_code == 200, answer.content


def subscribers_of(account: SenderAccount, n: int, first_chat: int) -> list[int]:
    """`n` people who pressed Start in `account`'s bot (their subscription is of that bot)."""
    chats = []
    for i in range(n):
        person = SubscriberFactory()
        person.tags.add(*_tags("all"))
        subscription = subscribe(person, "telegram", str(first_chat + i))
        Subscription.objects.filter(pk=subscription.pk).update(account=account)
        chats.append(first_chat + i)
    return chats


def launch(account: SenderAccount, body: str) -> Campaign:
    """A campaign on `account`'s bot to everybody tagged "all", due now."""
    segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = CampaignFactory(segment=segment, draft=DraftFactory(body=body, track_links=False),
                               platforms=["telegram"], telegram_account=account, send_at=send_at)
    return services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5))


def test_two_bots_each_send_their_own_campaign_to_their_own_subscribers_within_their_own_ceilings(fakes, engine):
    # given: bot A (5/s) with 30 subscribers, bot B (12/s) with 72, and 5 people of the
    # default bot (the environment's), all in the same segment
    fake_a, fake_b, fake_default = fakes
    policy()
    bot_a, bot_b = bot("bot-a", TOKEN_A, fake_a, 5), bot("bot-b", TOKEN_B, fake_b, 12)
    audience_a = subscribers_of(bot_a, 30, first_chat=10_000)
    audience_b = subscribers_of(bot_b, 72, first_chat=20_000)
    for i in range(5):
        person = SubscriberFactory()
        person.tags.add(*_tags("all"))
        subscribe(person, "telegram", str(30_000 + i))

    # when: a campaign on each bot, running at the same time on two workers
    engine.start(workers=2)
    campaign_a = launch(bot_a, "Bot A: −30% today")
    campaign_b = launch(bot_b, "Bot B: free delivery")
    campaign_a, campaign_b = finished(campaign_a, 120, engine), finished(campaign_b, 120, engine)

    # then: each person got exactly one message, through the bot they subscribed to (each fake
    # takes only its own bot's token), with that bot's campaign; nobody of one bot's audience
    # got the other's; the default bot's people got neither
    assert fake_a.count_by_chat() == {chat: 1 for chat in audience_a}
    assert fake_b.count_by_chat() == {chat: 1 for chat in audience_b}
    assert {c.text for c in fake_a.sent()} == {"Bot A: −30% today"}
    assert {c.text for c in fake_b.sent()} == {"Bot B: free delivery"}
    assert fake_default.calls() == [] and OutboxMessage.objects.count() == 0
    assert statuses(campaign_a) == {S.SENT: 30} and statuses(campaign_b) == {S.SENT: 72}
    # the ledger says which bot each list went from
    assert set(SendList.objects.filter(campaign=campaign_a).values_list("account__slug", flat=True)) == {"bot-a"}
    assert set(SendList.objects.filter(campaign=campaign_b).values_list("account__slug", flat=True)) == {"bot-b"}
    assert SendList.objects.filter(campaign=campaign_b).count() == 8  # lists of 10, shared by both workers
    # each bot's ceiling held at its own fake (Telegram's flood control there refused nothing)...
    assert fake_a.max_in_any_window(1.0) <= 5
    assert fake_b.max_in_any_window(1.0) <= 12
    assert {c.status for c in fake_a.calls()} == {200} and {c.status for c in fake_b.calls()} == {200}
    # ...and each is its own: bot B was not held to bot A's 5 a second (nor to one shared ceiling)
    assert fake_b.max_in_any_window(1.0) > 5


def test_an_inactive_account_sends_nothing_and_its_lists_wait_saying_why(fakes, engine):
    # given: a campaign on bot A, scheduled while bot A was active; an operator deactivates
    # bot A before it is due
    fake_a, _, fake_default = fakes
    policy()
    bot_a = bot("bot-a", TOKEN_A, fake_a, 5)
    subscribers_of(bot_a, 4, first_chat=10_000)
    campaign = launch(bot_a, "Bot A: −30% today")
    SenderAccount.objects.filter(pk=bot_a.pk).update(active=False)

    # when
    engine.start()
    wait_until(lambda: Delivery.objects.filter(
        campaign=campaign, reason__startswith="waiting for the platform: the telegram account 'bot-a' is inactive",
    ).count() == 4, 60, "the ledger to say why nothing moves")

    # then: nothing was sent, from bot A or from the default bot; the rows wait (nobody
    # failed) and the campaign says why
    assert statuses(campaign) == {S.PLANNED: 4}
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.problem == "the telegram account 'bot-a' is inactive"
    assert fake_a.calls() == [] and fake_a.method_counts() == {}
    assert fake_default.calls() == [] and OutboxMessage.objects.count() == 0


def test_people_who_press_start_in_one_bot_get_only_that_bots_campaign(fakes, engine):
    # given: through each bot's own webhook, 3 people press Start in bot A, 3 in bot B, and
    # one person (chat 500) in both bots; everybody tagged "all"
    fake_a, fake_b, fake_default = fakes
    policy()
    bot_a, bot_b = bot("bot-a", TOKEN_A, fake_a, 5), bot("bot-b", TOKEN_B, fake_b, 12)
    web = Client()
    for n, (account, chat) in enumerate([(bot_a, 101), (bot_a, 102), (bot_a, 103), (bot_b, 201), (bot_b, 202),
                                         (bot_b, 203), (bot_a, 500), (bot_b, 500)]):
        press_start(web, account, chat, update_id=1000 + n)
    for person in Subscriber.objects.all():
        person.tags.add(*_tags("all"))
    assert sorted(Subscription.objects.values_list("account__slug", "address")) == [
        ("bot-a", "101"), ("bot-a", "102"), ("bot-a", "103"), ("bot-a", "500"),
        ("bot-b", "201"), ("bot-b", "202"), ("bot-b", "203"), ("bot-b", "500")]

    # when
    engine.start()
    campaign_a = finished(launch(bot_a, "Bot A: −30% today"), 90, engine)
    campaign_b = finished(launch(bot_b, "Bot B: free delivery"), 90, engine)

    # then: each campaign reached its own bot's subscribers once, through that bot; the
    # person of both bots got one of each, each through its own bot
    def campaign_messages(fake: FakeTelegram, text: str) -> dict[int, int]:
        found: dict[int, int] = {}
        for call in fake.sent():
            if call.text == text:
                found[call.chat_id] = found.get(call.chat_id, 0) + 1
        return found

    assert campaign_messages(fake_a, "Bot A: −30% today") == {101: 1, 102: 1, 103: 1, 500: 1}
    assert campaign_messages(fake_b, "Bot B: free delivery") == {201: 1, 202: 1, 203: 1, 500: 1}
    assert campaign_messages(fake_a, "Bot B: free delivery") == {} == campaign_messages(fake_b, "Bot A: −30% today")
    assert statuses(campaign_a) == {S.SENT: 4} and statuses(campaign_b) == {S.SENT: 4}
    # and the default bot sent nothing: not the campaigns, not the welcome replies
    assert fake_default.calls() == [] and OutboxMessage.objects.count() == 0
