"""Sender accounts in the admin: an operator enters a bot's credentials (secrets never shown
again), sees its webhook URL and checks it on the fake platform; other roles see the accounts
without credentials; a campaign picks its account per platform, and the campaign page, the
forecast and the ledger say which account sends."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from campaigns.models import Campaign, Delivery, SenderAccount, SendList, Subscription
from campaigns.services.sender_accounts import account_save
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.django_db
TOKEN = "111111:vip-bot-token"
SECRET = "webhook-secret-of-the-vip-bot"
PRESS = {"_form_submitted": "True"}  # unfold's dialog form: the confirmation, posted


def admin_as(django_user_model, role: str) -> Client:
    user = django_user_model.objects.create_user(f"u-{role.lower()}", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def account(slug: str = "vip", platform: str = "telegram", *, active: bool = True, rate: float | None = None,
            **credentials: str) -> SenderAccount:
    return account_save(account=SenderAccount(), values={"platform": platform, "name": f"{slug} account", "slug": slug,
                                                         "active": active, "rate_per_second": rate},
                        credentials=credentials or {"token": TOKEN})


ADD = {"platform": "telegram", "name": "VIP bot", "slug": "vip", "rate_per_second": "12", "active": "on"}


def test_an_operator_enters_a_bot_whose_secrets_are_never_shown_again(django_user_model, settings):
    # given
    settings.TACT_PUBLIC_URL = "https://tact.example.com"
    operator = admin_as(django_user_model, "Operator")

    # when
    added = operator.post("/admin/campaigns/senderaccount/add/",
                          {**ADD, "token": TOKEN, "webhook_secret": SECRET, "api_url": "http://127.0.0.1:9"}, follow=True)
    vip = SenderAccount.objects.get()
    page = operator.get(f"/admin/campaigns/senderaccount/{vip.pk}/change/").content.decode()
    kept = operator.post(f"/admin/campaigns/senderaccount/{vip.pk}/change/",
                         {**ADD, "token": "", "webhook_secret": "", "api_url": "http://127.0.0.1:9", "name": "VIP"})

    # then: saved encrypted; the page says which secrets are set, shows none, and the webhook URL
    assert added.status_code == 200
    assert "https://tact.example.com/webhooks/telegram/vip/" in added.content.decode()
    assert (vip.credentials, vip.rate_per_second) == (
        {"token": TOKEN, "webhook_secret": SECRET, "api_url": "http://127.0.0.1:9"}, 12.0)
    assert TOKEN not in page and SECRET not in page and vip.credentials_encrypted not in page
    assert page.count("Stored: set. Leave empty to keep it.") == 2
    assert 'value="http://127.0.0.1:9"' in page  # a public one is shown
    assert "https://tact.example.com/webhooks/telegram/vip/" in page
    assert 'name="access_token"' not in page  # another platform's credentials are not asked for
    # an empty secret keeps the stored one
    assert kept.status_code == 302
    vip.refresh_from_db()
    assert (vip.name, vip.credentials["token"], vip.credentials["webhook_secret"]) == ("VIP", TOKEN, SECRET)


@pytest.mark.parametrize(("form", "errors"), [
    ({**ADD}, {"token": ["required for a Telegram account"]}),
    ({**ADD, "platform": "whatsapp", "access_token": "EAAG"}, {"phone_number_id": ["required for a WhatsApp account"]}),
    ({**ADD, "token": TOKEN, "auth_token": "viber"},
     {"auth_token": ["not a Telegram credential; one of token, webhook_secret, api_url"]}),
    ({**ADD, "token": TOKEN, "slug": "paid"},
     {"slug": ["“paid” is reserved (it names the default account or paid broadcasts); choose another slug"]}),
    ({**ADD, "token": TOKEN, "slug": "default"},
     {"slug": ["“default” is reserved (it names the default account or paid broadcasts); choose another slug"]}),
])
def test_the_form_refuses_naming_the_field(django_user_model, form, errors):
    # when
    refused = admin_as(django_user_model, "Operator").post("/admin/campaigns/senderaccount/add/", form)

    # then
    assert refused.status_code == 200
    assert refused.context_data["adminform"].form.errors == errors
    assert not SenderAccount.objects.exists()


def test_other_roles_see_the_accounts_and_which_credentials_are_set_but_no_secret(django_user_model):
    # given
    vip = account("vip", token=TOKEN, webhook_secret=SECRET, api_url="http://127.0.0.1:9")
    marketer = admin_as(django_user_model, "Marketer")

    # when
    listing = marketer.get("/admin/campaigns/senderaccount/")
    page = marketer.get(f"/admin/campaigns/senderaccount/{vip.pk}/change/")
    add = marketer.get("/admin/campaigns/senderaccount/add/")
    changed = marketer.post(f"/admin/campaigns/senderaccount/{vip.pk}/change/", {**ADD, "token": "x"})
    checked = marketer.post(f"/admin/campaigns/senderaccount/{vip.pk}/check/", PRESS)

    # then
    assert listing.status_code == 200 and "vip account" in listing.content.decode()
    text = page.content.decode()
    assert page.status_code == 200
    assert "<td>bot token</td><td>set</td>" in text and "<td>webhook secret</td><td>set</td>" in text
    assert "<td>API server</td><td>http://127.0.0.1:9</td>" in text
    assert TOKEN not in text and SECRET not in text and 'type="password"' not in text
    assert (add.status_code, changed.status_code, checked.status_code) == (403, 403, 403)
    vip.refresh_from_db()
    assert vip.credentials["token"] == TOKEN


def test_check_says_whether_the_platform_takes_the_credentials(django_user_model):
    # given
    operator = admin_as(django_user_model, "Operator")
    with FakeTelegram(token=TOKEN) as telegram:
        good = account("vip", token=TOKEN, api_url=telegram.root_url)
        revoked = account("old", token="222222:revoked", api_url=telegram.root_url)

        # when
        ok = operator.post(f"/admin/campaigns/senderaccount/{good.pk}/check/", PRESS, follow=True)
        refused = operator.post(f"/admin/campaigns/senderaccount/{revoked.pk}/check/", PRESS, follow=True)
        asked = telegram.method_counts().get("getme", 0)

    # then
    assert "“vip account”: the credentials work: Telegram bot @fake_bot (Fake Bot, id 111111)" in \
        ok.content.decode()
    assert "“old account”: refused: Telegram refused the bot token: Unauthorized" in refused.content.decode()
    assert "222222:revoked" not in refused.content.decode()
    assert asked == 2


def test_the_sidebar_shows_operators_the_sender_accounts(django_user_model):
    page = admin_as(django_user_model, "Operator").get("/admin/").content.decode()
    assert 'href="/admin/campaigns/senderaccount/"' in page


# --- a campaign's accounts -----------------------------------------------------------------


def _form_defaults(page) -> dict:
    form = page.context_data["adminform"].form
    values = {name: form[name].value() for name in form.fields}
    return {name: "on" if value is True else value for name, value in values.items()
            if value not in (None, "", False, [], ())}


def test_a_campaign_picks_among_the_platforms_active_accounts(django_user_model):
    # given
    vip = account("vip")
    asleep = account("asleep", active=False)
    viber_bot = account("viber-bot", "viber", auth_token="viber")
    marketer = admin_as(django_user_model, "Marketer")
    add = marketer.get("/admin/campaigns/campaign/add/")
    form = {**_form_defaults(add), "name": "VIP offer", "draft": DraftFactory().pk, "segment": SegmentFactory().pk,
            "send_at_0": "2030-03-25", "send_at_1": "10:00:00"}

    # when
    offered = add.context_data["adminform"].form.fields["telegram_account"].queryset
    not_chosen = marketer.post("/admin/campaigns/campaign/add/", {
        **form, "platforms": ["telegram"], "telegram_account": vip.pk, "viber_account": viber_bot.pk})
    inactive = marketer.post("/admin/campaigns/campaign/add/", {
        **form, "platforms": ["telegram"], "telegram_account": asleep.pk})
    saved = marketer.post("/admin/campaigns/campaign/add/", {
        **form, "platforms": ["telegram", "viber"], "telegram_account": vip.pk, "viber_account": viber_bot.pk})

    # then
    assert list(offered) == [vip]
    assert not_chosen.context_data["adminform"].form.errors == {
        "viber_account": ["Viber is not among the chosen platforms: tick it, or leave this empty"]}
    assert list(inactive.context_data["adminform"].form.errors) == ["telegram_account"]
    assert saved.status_code == 302, saved.context_data["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert (campaign.telegram_account, campaign.viber_account, campaign.whatsapp_account) == (vip, viber_bot, None)


def test_the_campaign_page_and_its_forecast_name_the_account_its_ceiling_and_live_or_sandbox(django_user_model,
                                                                                            settings):
    # given: the VIP bot (12/s, its own token: live) and 3 of its subscribers; the default bot has no token
    settings.TELEGRAM_BOT_TOKEN = ""
    vip = account("vip", rate=12)
    for _ in range(3):
        Subscription.objects.filter(pk=subscribe(SubscriberFactory(), "telegram").pk).update(account=vip)
    subscribe(SubscriberFactory(), "telegram")  # the default bot's: not in this campaign's audience
    campaign = CampaignFactory(telegram_account=vip, platforms=["telegram", "viber"])

    # when
    page = admin_as(django_user_model, "Analyst").get(f"/admin/campaigns/campaign/{campaign.pk}/change/")

    # then
    text = page.content.decode()
    assert "<td>Telegram</td><td>vip account (vip)</td><td>live</td>" in text  # the channels table
    assert "<td>Viber</td><td>default (the environment&#x27;s)</td><td>SANDBOX" in text
    row = re.search(r"<tr><td>telegram</td>.*?</tr>", text, re.S).group(0)  # the forecast's row
    assert "<td>3</td>" in row and "<td>12.0</td>" in row and "<td>live</td>" in row
    assert re.search(r'data-testid="forecast-account-telegram">vip account \(vip\)<', row)


def test_the_ledger_and_the_lists_show_the_account(django_user_model):
    # given
    vip = account("vip")
    campaign = CampaignFactory(telegram_account=vip)
    lists = [SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=1, account=vip),
             SendList.objects.create(campaign=campaign, platform="telegram", number=2, size=1)]
    for send_list in lists:
        person = SubscriberFactory()
        Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscribe(person, "telegram"),
                                platform="telegram", send_list=send_list, list_number=send_list.number,
                                send_after=campaign.send_at)
    analyst = admin_as(django_user_model, "Analyst")

    # when
    ledger = analyst.get(f"/admin/campaigns/delivery/?campaign__id__exact={campaign.pk}")
    send_lists = analyst.get(f"/admin/campaigns/sendlist/?campaign__id__exact={campaign.pk}")

    # then
    for page in (ledger, send_lists):
        assert page.status_code == 200
        cells = re.findall(r'<td class="field-sender_account[^>]*>([^<]*)</td>', page.content.decode())
        assert sorted(cells) == ["default", "vip"], cells
