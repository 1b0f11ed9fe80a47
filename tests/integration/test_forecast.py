"""GET /api/campaigns/{id}/forecast/: before sending, exact numbers and reasons."""

from datetime import UTC, datetime, time, timedelta

import pytest

from campaigns.models import Campaign, Delivery, FrequencyPolicy, Tag
from tests.conftest import CampaignFactory, SegmentFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db


def _person(tz="Europe/Moscow"):
    person = SubscriberFactory(timezone=tz)
    person.tags.add(Tag.objects.get_or_create(name="all")[0])
    return person


def test_forecast_counts_receivers_lists_time_and_who_is_held_back_and_why(admin_client_api, settings):
    settings.TACT_LIST_SIZE = {"whatsapp": 4}
    settings.TACT_RATE = {"telegram": 30.0, "whatsapp": 80.0, "viber": 50.0}
    policy = FrequencyPolicy.current()
    policy.max_per_day, policy.max_per_week = 1, 3
    policy.quiet_start, policy.quiet_end = time(21), time(9)
    policy.save()
    # 60 on Telegram in Moscow; 9 on WhatsApp with our number saved and 2 without (the Cloud
    # API sends one to one: both receive it); 3 on Viber only
    telegram = [_person() for _ in range(60)]
    for p in telegram:
        subscribe(p, "telegram")
    whatsapp = [subscribe(_person(), "whatsapp", saved_our_number=True) for _ in range(9)]
    for _ in range(2):
        subscribe(_person(), "whatsapp", saved_our_number=False)
    for _ in range(3):
        subscribe(_person(), "viber")
    # 5 of the Telegram people already got a message today from another campaign
    send_at = datetime(2030, 6, 3, 10, 0, tzinfo=UTC)  # 13:00 in Moscow: not quiet
    earlier = CampaignFactory(status=Campaign.Status.COMPLETED)
    for p in telegram[:5]:
        Delivery.objects.create(campaign=earlier, subscriber=p, subscription=p.subscriptions.get(), platform="telegram",
                                list_number=1, status="sent", send_after=send_at, sent_at=send_at - timedelta(hours=2))
    # 4 people in Los Angeles, where 10:00 UTC is 03:00: quiet hours
    for _ in range(4):
        subscribe(_person("America/Los_Angeles"), "telegram")
    # 3 of the WhatsApp people wrote to us an hour before send_at: inside the 24-hour window
    for subscription in whatsapp[:3]:
        subscription.last_inbound_at = send_at - timedelta(hours=1)
        subscription.save(update_fields=["last_inbound_at"])
    segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
    campaign = CampaignFactory(segment=segment, platforms=["telegram", "whatsapp"], send_at=send_at)

    answer = admin_client_api.get(f"/api/campaigns/{campaign.pk}/forecast/")

    assert answer.status_code == 200
    body = answer.json()
    assert body["audience"] == 78
    assert body["receivers"] == 75
    assert body["platforms"] == {
        "telegram": {"receivers": 64, "lists": 1, "list_size": None, "rate_per_second": 30.0, "seconds": 2.1,
                     "sandbox": True, "account": None, "account_name": "default account"},
        "whatsapp": {"receivers": 11, "lists": 3, "list_size": 4, "rate_per_second": 80.0, "seconds": 0.1,
                     "sandbox": True, "account": None, "account_name": "default account", "templates_needed": 8},
    }
    assert body["held_back"] == {"cap": 5, "quiet_hours": 4, "no_consent": 3, "fatigue": 0}
    assert body["duration_seconds"] == 2.1


def test_forecast_of_an_unknown_campaign_is_404(admin_client_api):
    assert admin_client_api.get("/api/campaigns/999999/forecast/").status_code == 404


def test_campaign_stats_count_opt_outs_within_48_hours_after_the_message(admin_client_api):
    # given: a campaign reached five people at noon (in the past: consent dates cannot be in
    # the future); four opt out 1 h, 47 h, 49 h after it, one had opted out before it came,
    # and one bounced 2 h after it (a suppression, not an opt-out)
    from campaigns import services

    sent_at = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
    campaign = CampaignFactory(status=Campaign.Status.COMPLETED, started_at=sent_at)
    for hours, status in ((1, "opted_out"), (47, "blocked"), (49, "opted_out"), (-1, "opted_out"), (2, "unreachable")):
        subscription = subscribe(_person(), "telegram", at=datetime(2026, 5, 1, tzinfo=UTC))
        Delivery.objects.create(campaign=campaign, subscriber=subscription.subscriber, subscription=subscription,
                                platform="telegram", list_number=1, status="delivered", send_after=sent_at,
                                sent_at=sent_at)
        services.subscription_opt_out(subscription=subscription, status=status,
                                      consent=services.Consent(source="test", at=sent_at + timedelta(hours=hours)))

    stats = admin_client_api.get(f"/api/campaigns/{campaign.pk}/").json()["stats"]

    assert stats["opted_out_48h"] == 2
    assert (stats["sent"], stats["delivered"]) == (5, 5)
