"""The data model on real PostgreSQL: constraints, consent triggers, services and selectors.

Ordinary tests run inside one transaction that is rolled back, so PostgreSQL never
reaches a commit and deferred triggers never fire there. Tests of the consent trigger
therefore either commit for real (`django_db(transaction=True)`) or force the pending
checks with `SET CONSTRAINTS ALL IMMEDIATE`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from campaigns import rules, selectors, services
from campaigns.models import (
    Campaign,
    ConsentEvent,
    Delivery,
    FrequencyPolicy,
    Segment,
    Subscriber,
    Subscription,
)
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
NOV_5 = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
NOV_20 = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
BEFORE_SEND = datetime(2029, 12, 1, tzinfo=UTC)  # CampaignFactory sends at 2030-01-01 09:00 UTC


def check_deferred_constraints() -> None:
    """Run now the checks PostgreSQL would run at commit (the consent trigger among them)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def add_delivery(campaign: Campaign, subscription: Subscription, status: str = Delivery.Status.PLANNED) -> Delivery:
    return Delivery.objects.create(
        campaign=campaign,
        subscriber=subscription.subscriber,
        subscription=subscription,
        platform=subscription.platform,
        list_number=1,
        status=status,
        send_after=campaign.send_at,
    )


def events_of(subscription: Subscription) -> list[tuple]:
    return list(
        subscription.consent_events.order_by("id").values_list("kind", "status", "source", "text", "at")
    )


# --- unique constraints ----------------------------------------------------------------


def test_a_second_subscription_with_the_same_platform_and_address_is_refused():
    # given
    anna, boris = SubscriberFactory(), SubscriberFactory()
    subscribe(anna, "whatsapp", "+79990001122")

    # when / then
    with pytest.raises(IntegrityError, match="subscription_address_unique"):
        with transaction.atomic():
            Subscription.objects.create(
                subscriber=boris, platform="whatsapp", address="+79990001122", status="opted_out"
            )
    assert list(Subscription.objects.values_list("subscriber_id", "platform", "address")) == [
        (anna.pk, "whatsapp", "+79990001122")
    ]


def test_the_same_address_on_another_platform_is_another_subscription():
    # given
    anna, boris = SubscriberFactory(), SubscriberFactory()
    subscribe(anna, "whatsapp", "+79990001122")

    # when
    subscribe(boris, "viber", "+79990001122")
    check_deferred_constraints()

    # then
    assert sorted(Subscription.objects.values_list("subscriber_id", "platform", "address")) == sorted(
        [(anna.pk, "whatsapp", "+79990001122"), (boris.pk, "viber", "+79990001122")]
    )


def test_a_second_delivery_row_for_the_same_campaign_and_person_is_refused():
    # given: one person reachable on two platforms, already planned once
    anna = SubscriberFactory()
    telegram, whatsapp = subscribe(anna, "telegram"), subscribe(anna, "whatsapp")
    campaign = CampaignFactory(platforms=["telegram", "whatsapp"])
    add_delivery(campaign, telegram)

    # when / then: even through the other platform
    with pytest.raises(IntegrityError, match="delivery_once_per_person"):
        with transaction.atomic():
            add_delivery(campaign, whatsapp)
    assert list(Delivery.objects.values_list("campaign_id", "subscription_id")) == [(campaign.pk, telegram.pk)]


# --- consent triggers ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_opt_in_without_a_consent_event_is_refused_at_commit():
    # given
    anna = SubscriberFactory()

    # when / then
    with pytest.raises(IntegrityError, match="opted in without an opt-in consent event"):
        with transaction.atomic():
            Subscription.objects.create(subscriber=anna, platform="telegram", address="123456789", status="opted_in")
    assert Subscription.objects.count() == 0
    assert ConsentEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_opt_in_whose_consent_event_follows_in_the_same_transaction_commits():
    # given
    anna = SubscriberFactory()

    # when: the trigger is deferred, so the event may come after the row
    with transaction.atomic():
        subscription = Subscription.objects.create(
            subscriber=anna, platform="telegram", address="123456789", status="opted_in"
        )
        ConsentEvent.objects.create(
            subscription=subscription, kind="opt_in", status="opted_in", source="test", at=NOV_1
        )

    # then
    assert list(Subscription.objects.values_list("address", "status")) == [("123456789", "opted_in")]
    assert events_of(subscription) == [("opt_in", "opted_in", "test", "", NOV_1)]


def test_an_opt_in_without_a_consent_event_is_refused_when_checks_run_immediately():
    # given
    anna = SubscriberFactory()
    check_deferred_constraints()

    # when / then
    with pytest.raises(IntegrityError, match="opted in without an opt-in consent event"):
        with transaction.atomic():
            Subscription.objects.create(subscriber=anna, platform="telegram", address="123456789", status="opted_in")
    assert Subscription.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_setting_an_opted_out_subscription_back_to_opted_in_without_a_new_opt_in_is_refused():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="api", at=NOV_10))

    # when / then
    with pytest.raises(IntegrityError, match="opted in without an opt-in consent event"):
        with transaction.atomic():
            Subscription.objects.filter(pk=subscription.pk).update(status="opted_in")
    subscription.refresh_from_db()
    assert subscription.status == "opted_out"
    assert [kind for kind, *_ in events_of(subscription)] == ["opt_in", "opt_out"]


@pytest.mark.django_db(transaction=True)
def test_the_services_path_passes_the_consent_trigger_at_commit():
    # given / when: each service call commits on its own: a stop, the person's /start, a
    # bounce, and an import with newer consent after the bounce
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="api", at=NOV_5))
    services.subscription_opt_in(
        subscription=subscription,
        consent=services.Consent(source="telegram_start", text="/start", at=NOV_10, by_person=True),
    )
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="telegram_error", at=NOV_10),
                                  status="unreachable")
    services.subscription_opt_in(subscription=subscription, consent=services.Consent(source="import", at=NOV_20))

    # then
    subscription.refresh_from_db()
    assert subscription.status == "opted_in"
    assert [kind for kind, *_ in events_of(subscription)] == ["opt_in", "opt_out", "opt_in", "suppress", "opt_in"]


def test_consent_events_cannot_be_updated():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)
    event = subscription.consent_events.get()

    # when / then
    with pytest.raises(IntegrityError, match=r"append-only \(UPDATE refused\)"):
        with transaction.atomic():
            ConsentEvent.objects.filter(pk=event.pk).update(text="I never said that", at=NOV_20)
    assert events_of(subscription) == [("opt_in", "opted_in", "test", "Yes, send me offers", NOV_1)]


def test_consent_events_cannot_be_deleted():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)

    # when / then
    with pytest.raises(IntegrityError, match=r"append-only \(DELETE refused\)"):
        with transaction.atomic():
            ConsentEvent.objects.filter(subscription=subscription).delete()
    assert events_of(subscription) == [("opt_in", "opted_in", "test", "Yes, send me offers", NOV_1)]


def test_a_subscription_with_consent_events_cannot_be_deleted():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)

    # when / then
    with pytest.raises(ProtectedError):
        with transaction.atomic():
            subscription.delete()
    assert Subscription.objects.filter(pk=subscription.pk).exists()
    assert ConsentEvent.objects.filter(subscription=subscription).count() == 1


# --- services: consent ---------------------------------------------------------------


def test_subscription_add_stores_the_normalised_address_and_its_consent():
    # given
    anna = SubscriberFactory()

    # when
    subscription = services.subscription_add(
        subscriber=anna,
        platform="whatsapp",
        address=" +7 (999) 000-11-22 ",
        consent=services.Consent(source="import", text="Yes, send me offers", at=NOV_1, evidence={"form": 7}),
        saved_our_number=True,
    )
    check_deferred_constraints()

    # then
    subscription.refresh_from_db()
    assert (subscription.subscriber_id, subscription.platform, subscription.address) == (
        anna.pk,
        "whatsapp",
        "+79990001122",
    )
    assert (subscription.status, subscription.saved_our_number) == ("opted_in", True)
    assert events_of(subscription) == [("opt_in", "opted_in", "import", "Yes, send me offers", NOV_1)]
    assert subscription.consent_events.get().evidence == {"form": 7}


def test_subscription_add_refuses_an_address_taken_by_someone_else():
    # given
    subscribe(SubscriberFactory(name="Anna"), "whatsapp", "+79990001122")
    boris = SubscriberFactory()
    before = (Subscription.objects.count(), ConsentEvent.objects.count())

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        subscribe(boris, "whatsapp", "+7 999 000 11 22")
    assert refused.value.messages == ["whatsapp address +79990001122 already belongs to Anna"]
    assert (Subscription.objects.count(), ConsentEvent.objects.count()) == before
    assert not boris.subscriptions.exists()


def test_subscription_opt_out_records_the_event_and_is_a_no_op_the_second_time():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)

    # when
    first = services.subscription_opt_out(
        subscription=subscription, consent=services.Consent(source="telegram_stop", text="/stop", at=NOV_10)
    )
    second = services.subscription_opt_out(
        subscription=subscription, consent=services.Consent(source="api", at=NOV_20)
    )
    check_deferred_constraints()

    # then
    subscription.refresh_from_db()
    assert subscription.status == "opted_out"
    assert first is not None and second is None
    assert events_of(subscription) == [
        ("opt_in", "opted_in", "test", "Yes, send me offers", NOV_1),
        ("opt_out", "opted_out", "telegram_stop", "/stop", NOV_10),
    ]


def test_subscription_opt_out_can_record_a_block():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)

    # when
    services.subscription_opt_out(
        subscription=subscription, consent=services.Consent(source="telegram_blocked", at=NOV_10), status="blocked"
    )
    check_deferred_constraints()

    # then
    subscription.refresh_from_db()
    assert subscription.status == "blocked"
    assert events_of(subscription)[-1] == ("opt_out", "blocked", "telegram_blocked", "", NOV_10)


def test_subscription_opt_out_refuses_to_leave_the_subscription_opted_in():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)

    # when / then
    with pytest.raises(ValueError, match="cannot leave the subscription opted in"):
        services.subscription_opt_out(
            subscription=subscription, consent=services.Consent(source="api", at=NOV_10), status="opted_in"
        )
    assert [kind for kind, *_ in events_of(subscription)] == ["opt_in"]


def test_the_persons_own_opt_in_after_an_opt_out_records_a_new_event():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="api", at=NOV_10))

    # when
    event = services.subscription_opt_in(
        subscription=subscription,
        consent=services.Consent(source="telegram_start", text="/start", at=NOV_20, by_person=True),
    )
    check_deferred_constraints()

    # then
    subscription.refresh_from_db()
    assert subscription.status == "opted_in"
    assert event is not None and event.pk == subscription.consent_events.order_by("id").last().pk
    assert events_of(subscription) == [
        ("opt_in", "opted_in", "test", "Yes, send me offers", NOV_1),
        ("opt_out", "opted_out", "api", "", NOV_10),
        ("opt_in", "opted_in", "telegram_start", "/start", NOV_20),
    ]
    assert event.by_person is True


@pytest.mark.parametrize(
    ("opt_out", "expected"),
    [
        pytest.param(
            lambda: services.person_opt_out("telegram", "123456789",
                                            consent=services.Consent(source="telegram_stop", text="/stop", at=NOV_10)),
            "Telegram 123456789 opted out themselves on 2026-11-10 12:00 UTC (via telegram_stop); "
            "only their own opt-in (/start, START, Viber subscribe) brings them back",
            id="the-persons-stop",
        ),
        pytest.param(
            lambda: services.person_opt_out("telegram", "123456789",
                                            consent=services.Consent(source="telegram_blocked", at=NOV_10),
                                            status="blocked"),
            "Telegram 123456789 blocked us on 2026-11-10 12:00 UTC (via telegram_blocked); "
            "only their own opt-in (/start, START, Viber subscribe) brings them back",
            id="the-person-blocked-the-bot",
        ),
        pytest.param(
            lambda: services.subscription_opt_out(subscription=Subscription.objects.get(),
                                                  consent=services.Consent(source="admin:boss", at=NOV_10)),
            "Telegram 123456789 was opted out on 2026-11-10 12:00 UTC (via admin:boss); "
            "only their own opt-in (/start, START, Viber subscribe) brings them back",
            id="opted-out-by-the-brand",
        ),
    ],
)
def test_subscription_opt_in_on_the_persons_behalf_after_a_withdrawal_is_refused(db_state, opt_out, expected):
    # given: a withdrawal on Nov 10, then an import with consent of Nov 20
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)
    opt_out()
    before = db_state()

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.subscription_opt_in(subscription=subscription, consent=services.Consent(source="import", at=NOV_20))
    assert refused.value.messages == [expected]
    assert db_state() == before


def test_a_bounce_is_recorded_as_a_suppression_and_skips_the_waiting_deliveries():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)
    planned = add_delivery(CampaignFactory(), subscription, "planned")

    # when
    event = services.subscription_opt_out(
        subscription=subscription, consent=services.Consent(source="telegram_error", text="chat not found", at=NOV_10),
        status="unreachable",
    )
    check_deferred_constraints()

    # then
    subscription.refresh_from_db()
    assert subscription.status == "unreachable"
    assert (event.kind, event.by_person) == ("suppress", False)
    assert events_of(subscription) == [
        ("opt_in", "opted_in", "test", "Yes, send me offers", NOV_1),
        ("suppress", "unreachable", "telegram_error", "chat not found", NOV_10),
    ]
    planned.refresh_from_db()
    assert (planned.status, planned.reason) == ("skipped", "unreachable via telegram_error")


def test_the_platforms_bounce_through_person_opt_out_is_a_suppression_not_the_persons_act():
    # given
    subscription = subscribe(SubscriberFactory(), "whatsapp", "+79990001122", at=NOV_1)

    # when
    change = services.person_opt_out("whatsapp", "+79990001122",
                                     consent=services.Consent(source="whatsapp_131026", at=NOV_10),
                                     status="unreachable")

    # then
    assert change.changed is True
    last = subscription.consent_events.order_by("id").last()
    assert (last.kind, last.status, last.source, last.by_person) == ("suppress", "unreachable", "whatsapp_131026", False)


def test_an_import_with_consent_newer_than_a_bounce_opts_in_again():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="telegram_error", at=NOV_10),
                                  status="unreachable")

    # when
    event = services.subscription_opt_in(
        subscription=subscription, consent=services.Consent(source="import", text="Yes again", at=NOV_20)
    )
    check_deferred_constraints()

    # then
    subscription.refresh_from_db()
    assert subscription.status == "opted_in"
    assert event is not None
    assert events_of(subscription) == [
        ("opt_in", "opted_in", "test", "Yes, send me offers", NOV_1),
        ("suppress", "unreachable", "telegram_error", "", NOV_10),
        ("opt_in", "opted_in", "import", "Yes again", NOV_20),
    ]


def test_a_withdrawal_after_a_bounce_replaces_it_and_then_only_the_person_brings_them_back(db_state):
    # given: a bounce on Nov 5, then the person blocks the bot on Nov 10
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="telegram_error", at=NOV_5),
                                  status="unreachable")
    services.person_opt_out("telegram", "123456789", consent=services.Consent(source="telegram_blocked", at=NOV_10),
                            status="blocked")
    before = db_state()

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.subscription_opt_in(subscription=subscription, consent=services.Consent(source="import", at=NOV_20))
    assert refused.value.messages == [
        "Telegram 123456789 blocked us on 2026-11-10 12:00 UTC (via telegram_blocked); "
        "only their own opt-in (/start, START, Viber subscribe) brings them back"
    ]
    assert db_state() == before
    subscription.refresh_from_db()
    assert subscription.status == "blocked"
    assert [(kind, status) for kind, status, *_ in events_of(subscription)] == [
        ("opt_in", "opted_in"), ("suppress", "unreachable"), ("opt_out", "blocked"),
    ]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(datetime(1, 1, 1, tzinfo=UTC), "consent time 1-01-01 is before 2000-01-01", id="year-0001"),
        pytest.param(datetime(1999, 12, 31, 23, 59, tzinfo=UTC), "consent time 1999-12-31 is before 2000-01-01",
                     id="before-2000"),
        pytest.param(datetime(2099, 1, 1, tzinfo=UTC), "consent time 2099-01-01 00:00 UTC is in the future",
                     id="future"),
    ],
)
def test_subscription_add_refuses_a_consent_date_that_cannot_be_true(db_state, at, expected):
    # given
    anna = SubscriberFactory()
    before = db_state()

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.subscription_add(subscriber=anna, platform="telegram", address="123456789",
                                  consent=services.Consent(source="import", text="Yes", at=at))
    assert refused.value.by_field == {"consent_at": [expected]}
    assert db_state() == before


def test_subscription_opt_in_of_an_opted_in_subscription_records_nothing():
    # given
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)

    # when
    event = services.subscription_opt_in(
        subscription=subscription, consent=services.Consent(source="import", at=NOV_20)
    )

    # then
    assert event is None
    assert [kind for kind, *_ in events_of(subscription)] == ["opt_in"]


def test_subscription_opt_in_refuses_a_consent_older_than_the_last_opt_out(db_state):
    # given: consent on Nov 1, "stop" on Nov 10, and the person's /start of Nov 5 that the
    # platform delivers late, after the stop
    subscription = subscribe(SubscriberFactory(), "telegram", "123456789", at=NOV_1)
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="api", at=NOV_10))
    before = db_state()

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.subscription_opt_in(
            subscription=subscription, consent=services.Consent(source="telegram_start", at=NOV_5, by_person=True)
        )
    assert refused.value.messages == [
        "Telegram 123456789 was opted out at 2026-11-10 12:00 UTC, "
        "after this consent (2026-11-05 12:00 UTC); not opted in again"
    ]
    assert db_state() == before


def test_subscription_opt_out_skips_the_waiting_deliveries_of_that_subscription_only():
    # given: Anna on Telegram in four campaigns, on WhatsApp in a fifth; Boris in the first
    anna, boris = SubscriberFactory(), SubscriberFactory()
    anna_telegram, anna_whatsapp = subscribe(anna, "telegram"), subscribe(anna, "whatsapp")
    boris_telegram = subscribe(boris, "telegram")
    c1, c2, c3, c4, c5 = (CampaignFactory() for _ in range(5))
    planned = add_delivery(c1, anna_telegram, "planned")
    held = add_delivery(c2, anna_telegram, "held")
    sent = add_delivery(c3, anna_telegram, "sent")
    failed = add_delivery(c4, anna_telegram, "failed")
    other_platform = add_delivery(c5, anna_whatsapp, "planned")
    other_person = add_delivery(c1, boris_telegram, "planned")

    # when
    services.subscription_opt_out(
        subscription=anna_telegram, consent=services.Consent(source="telegram_stop", at=NOV_10)
    )

    # then
    rows = {d.pk: (d.status, d.reason) for d in Delivery.objects.all()}
    assert rows == {
        planned.pk: ("skipped", "opted out via telegram_stop"),
        held.pk: ("skipped", "opted out via telegram_stop"),
        sent.pk: ("sent", ""),
        failed.pk: ("failed", ""),
        other_platform.pk: ("planned", ""),
        other_person.pk: ("planned", ""),
    }


# --- services: campaigns ---------------------------------------------------------------


def test_campaign_schedule_freezes_the_content_of_the_draft():
    # given
    draft = DraftFactory(
        title="Black Friday",
        body="−30% on everything today only\nDetails inside…",
        buttons=[{"text": "Shop", "url": "https://example.com"}],
        whatsapp_template={"name": "black_friday", "language": "ru", "parameters": ["−30%"]},
    )
    campaign = CampaignFactory(draft=draft, platforms=["telegram", "whatsapp", "viber"])

    # when
    services.campaign_schedule(campaign=campaign, now=BEFORE_SEND)
    draft.title, draft.body, draft.buttons, draft.whatsapp_template = "Edited", "Edited body", [], None
    draft.save()

    # then
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    assert campaign.scheduled_at == BEFORE_SEND
    assert (
        campaign.content_title,
        campaign.content_body,
        campaign.content_buttons,
        campaign.content_whatsapp_template,
    ) == (
        "Black Friday",
        "−30% on everything today only\nDetails inside…",
        [{"text": "Shop", "url": "https://example.com"}],
        {"name": "black_friday", "language": "ru", "parameters": ["−30%"]},
    )


def assert_still_a_draft(campaign: Campaign) -> None:
    campaign.refresh_from_db()
    assert (campaign.status, campaign.scheduled_at, campaign.content_title, campaign.content_body) == (
        "draft",
        None,
        "",
        "",
    )


def test_campaign_schedule_refuses_a_send_at_in_the_past():
    # given
    campaign = CampaignFactory(send_at=datetime(2030, 1, 1, 9, 0, tzinfo=UTC))

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=datetime(2030, 1, 1, 9, 30, tzinfo=UTC))
    assert refused.value.by_field == {
        "send_at": ["send_at 2030-01-01 09:00 UTC is in the past (now 2030-01-01 09:30 UTC)"]
    }
    assert_still_a_draft(campaign)


def test_campaign_schedule_refuses_a_send_at_equal_to_now():
    # given
    campaign = CampaignFactory(send_at=datetime(2030, 1, 1, 9, 0, tzinfo=UTC))

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=datetime(2030, 1, 1, 9, 0, tzinfo=UTC))
    assert list(refused.value.by_field) == ["send_at"]
    assert_still_a_draft(campaign)


def test_campaign_schedule_refuses_a_body_over_telegrams_limit_in_utf16_units():
    # given: 15 + 2041 * 2 = 4097 UTF-16 units (Telegram's limit is 4096), but only
    # 15 + 2041 = 2056 code points, which fits WhatsApp's 4096
    body = "Short headline\n" + "😀" * 2041
    campaign = CampaignFactory(draft=DraftFactory(body=body), platforms=["telegram", "whatsapp"])

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=BEFORE_SEND)
    assert refused.value.by_field == {"draft": ["telegram: the message is 4097 characters, over the limit of 4096"]}
    assert_still_a_draft(campaign)


def test_campaign_schedule_refuses_2049_emoji_on_telegram_for_preview_and_body():
    # given: one line of 2049 emoji: 2049 characters shown, 4098 UTF-16 units
    campaign = CampaignFactory(draft=DraftFactory(body="😀" * 2049), platforms=["telegram"])

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=BEFORE_SEND)
    assert refused.value.by_field == {
        "draft": [
            "telegram: the push preview (first line) is 2049 characters, over the limit of 120",
            "telegram: the message is 4098 characters, over the limit of 4096",
        ]
    }
    assert_still_a_draft(campaign)


def test_campaign_schedule_accepts_a_body_of_exactly_4096_utf16_units_on_telegram():
    # given: 16 + 2040 * 2 = 4096
    body = "Short headline!\n" + "😀" * 2040
    campaign = CampaignFactory(draft=DraftFactory(body=body), platforms=["telegram"])

    # when
    services.campaign_schedule(campaign=campaign, now=BEFORE_SEND)

    # then
    campaign.refresh_from_db()
    assert (campaign.status, campaign.content_body) == ("scheduled", body)


def test_campaign_schedule_refuses_a_push_preview_over_120_characters():
    # given
    body = "x" * 121 + "\nThe rest of the message"
    campaign = CampaignFactory(draft=DraftFactory(body=body), platforms=["telegram", "viber"])

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=BEFORE_SEND)
    assert refused.value.by_field == {
        "draft": [
            "telegram: the push preview (first line) is 121 characters, over the limit of 120",
            "viber: the push preview (first line) is 121 characters, over the limit of 120",
        ]
    }
    assert_still_a_draft(campaign)


def test_campaign_schedule_accepts_a_push_preview_of_exactly_120_characters():
    # given
    campaign = CampaignFactory(draft=DraftFactory(body="x" * 120 + "\nmore"), platforms=["telegram"])

    # when
    services.campaign_schedule(campaign=campaign, now=BEFORE_SEND)

    # then
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"


def static_segment(size: int, max_size: int | None, name: str = "VIP group") -> Segment:
    segment = SegmentFactory(name=name, kind=Segment.Kind.STATIC, rules={}, max_size=max_size)
    segment.members.set(SubscriberFactory.create_batch(size))
    return segment


def test_campaign_schedule_refuses_a_segment_over_its_max_size():
    # given
    campaign = CampaignFactory(segment=static_segment(16, max_size=15))

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=BEFORE_SEND)
    assert refused.value.by_field == {"segment": ["segment 'VIP group' has 16 people, over its max_size of 15"]}
    assert_still_a_draft(campaign)


def test_campaign_schedule_accepts_a_segment_at_its_max_size():
    # given
    campaign = CampaignFactory(segment=static_segment(15, max_size=15))

    # when
    services.campaign_schedule(campaign=campaign, now=BEFORE_SEND)

    # then
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"


def test_campaign_schedule_names_every_problem_at_once():
    # given
    campaign = CampaignFactory(
        send_at=datetime(2030, 1, 1, 9, 0, tzinfo=UTC),
        draft=DraftFactory(body="x" * 121),
        segment=static_segment(16, max_size=15),
        platforms=["whatsapp"],
    )

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=datetime(2030, 1, 2, tzinfo=UTC))
    assert refused.value.by_field == {
        "send_at": ["send_at 2030-01-01 09:00 UTC is in the past (now 2030-01-02 00:00 UTC)"],
        "draft": ["whatsapp: the push preview (first line) is 121 characters, over the limit of 120"],
        "segment": ["segment 'VIP group' has 16 people, over its max_size of 15"],
    }
    assert_still_a_draft(campaign)


def test_campaign_schedule_refuses_a_campaign_that_is_not_a_draft():
    # given
    campaign = CampaignFactory()
    services.campaign_schedule(campaign=campaign, now=BEFORE_SEND)

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=BEFORE_SEND + timedelta(days=1))
    assert refused.value.messages == ["only a draft campaign can be scheduled; this one is scheduled"]
    campaign.refresh_from_db()
    assert campaign.scheduled_at == BEFORE_SEND


def test_campaign_cancel_skips_the_waiting_deliveries_and_keeps_the_rest():
    # given
    campaign = CampaignFactory()
    services.campaign_schedule(campaign=campaign, now=BEFORE_SEND)
    people = [subscribe(SubscriberFactory(), "telegram") for _ in range(4)]
    planned, held, sent, read = (
        add_delivery(campaign, s, status) for s, status in zip(people, ["planned", "held", "sent", "read"], strict=True)
    )
    other_campaign = CampaignFactory()
    elsewhere = add_delivery(other_campaign, people[0], "planned")

    # when
    services.campaign_cancel(campaign=campaign)

    # then
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
    assert campaign.cancelled_at is not None
    rows = {d.pk: (d.status, d.reason) for d in Delivery.objects.all()}
    assert rows == {
        planned.pk: ("skipped", "campaign cancelled"),
        held.pk: ("skipped", "campaign cancelled"),
        sent.pk: ("sent", ""),
        read.pk: ("read", ""),
        elsewhere.pk: ("planned", ""),
    }


@pytest.mark.parametrize("status", ["draft", "completed", "cancelled"])
def test_campaign_cancel_refuses_a_campaign_that_cannot_be_cancelled(status):
    # given
    campaign = CampaignFactory()
    Campaign.objects.filter(pk=campaign.pk).update(status=status)

    # when / then
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_cancel(campaign=campaign)
    assert refused.value.messages == [f"a {status} campaign cannot be cancelled"]
    campaign.refresh_from_db()
    assert (campaign.status, campaign.cancelled_at) == (status, None)


# --- frequency policy ----------------------------------------------------------------


def test_frequency_policy_defaults_to_one_a_day_three_a_week_and_quiet_nights():
    # when
    policy = FrequencyPolicy.current()

    # then: the defaults, read without writing a row (nothing in the audit log for a read)
    assert FrequencyPolicy.objects.count() == 0
    policy.save()
    again = FrequencyPolicy.current()
    assert FrequencyPolicy.objects.count() == 1
    assert again.pk == policy.pk == FrequencyPolicy.SINGLETON_ID
    assert (policy.max_per_day, policy.max_per_week, policy.quiet_start, policy.quiet_end) == (
        1,
        3,
        time(21, 0),
        time(9, 0),
    )
    assert policy.as_rule() == rules.FrequencyPolicy(max_per_day=1, max_per_week=3)
    assert policy.quiet_hours() == rules.QuietHours(time(21, 0), time(9, 0))
    assert str(policy) == "1/day, 3/7 days, quiet 21:00-09:00"


def test_frequency_policy_stays_a_single_row_when_saved_again():
    # given
    FrequencyPolicy(max_per_day=2, max_per_week=None, quiet_start=time(22), quiet_end=time(22)).save()

    # when
    policy = FrequencyPolicy.current()

    # then
    assert FrequencyPolicy.objects.count() == 1
    assert (policy.max_per_day, policy.max_per_week) == (2, None)
    assert policy.quiet_hours() is None


# --- selectors ---------------------------------------------------------------------


@pytest.fixture
def audience():
    """Four people; Boris opted out of Telegram and keeps Viber."""
    anna = SubscriberFactory(name="anna", attributes={"city": "Moscow", "avg_check": 5400, "contains": "gold"})
    boris = SubscriberFactory(name="boris", attributes={"city": "Moscow", "avg_check": "5400", "vip": True})
    clara = SubscriberFactory(name="clara", attributes={"city": "Kazan", "avg_check": 1200})
    dmitri = SubscriberFactory(name="dmitri", attributes={})
    services.tags_set(subscriber=anna, names=["vip", "moscow"])
    services.tags_set(subscriber=boris, names=["vip"])
    services.tags_set(subscriber=clara, names=["moscow"])
    subscribe(anna, "telegram")
    subscribe(anna, "whatsapp")
    boris_telegram = subscribe(boris, "telegram")
    services.subscription_opt_out(subscription=boris_telegram, consent=services.Consent(source="api", at=NOV_10))
    subscribe(boris, "viber")
    return {"anna": anna, "boris": boris, "clara": clara, "dmitri": dmitri}


def names(queryset) -> list[str]:
    return sorted(queryset.values_list("name", flat=True))


@pytest.mark.parametrize(
    ("segment_rules", "expected"),
    [
        ({}, ["anna", "boris", "clara", "dmitri"]),
        ({"tags_all": ["vip"]}, ["anna", "boris"]),
        ({"tags_all": ["vip", "moscow"]}, ["anna"]),
        ({"tags_any": ["vip", "moscow"]}, ["anna", "boris", "clara"]),
        ({"tags_any": ["nobody"]}, []),
        ({"platforms": ["telegram"]}, ["anna"]),
        ({"platforms": ["telegram", "viber"]}, ["anna", "boris"]),
        ({"attributes": {"city": "Moscow"}}, ["anna", "boris"]),
        ({"attributes": {"avg_check": 5400}}, ["anna"]),
        ({"attributes": {"avg_check": "5400"}}, ["boris"]),
        ({"attributes": {"vip": True}}, ["boris"]),
        ({"attributes": {"contains": "gold"}}, ["anna"]),
        ({"attributes": {"city": "Moscow", "avg_check": 5400}}, ["anna"]),
        ({"tags_all": ["vip"], "platforms": ["viber"]}, ["boris"]),
        ({"tags_any": ["moscow"], "attributes": {"city": "Kazan"}}, ["clara"]),
    ],
)
def test_segment_subscribers_applies_dynamic_rules(audience, segment_rules, expected):
    # given
    segment = SegmentFactory(rules=segment_rules)

    # when / then
    assert names(selectors.segment_subscribers(segment)) == expected
    assert selectors.segment_size(segment) == len(expected)


def test_segment_subscribers_of_a_static_segment_are_its_members_whatever_the_rules(audience):
    # given
    segment = SegmentFactory(kind=Segment.Kind.STATIC, rules={"tags_all": ["vip"]})
    segment.members.set([audience["clara"], audience["dmitri"]])

    # when / then
    assert names(selectors.segment_subscribers(segment)) == ["clara", "dmitri"]


def test_segment_sizes_count_only_opted_in_subscriptions_per_platform(audience):
    # given
    static = SegmentFactory(kind=Segment.Kind.STATIC, rules={})
    static.members.set([audience["anna"], audience["boris"], audience["dmitri"]])
    vip = SegmentFactory(rules={"tags_all": ["vip"]})
    kazan = SegmentFactory(rules={"attributes": {"city": "Kazan"}})

    # when / then
    assert selectors.segment_sizes(static) == {"total": 3, "telegram": 1, "whatsapp": 1, "viber": 1}
    assert selectors.segment_sizes(vip) == {"total": 2, "telegram": 1, "whatsapp": 1, "viber": 1}
    assert selectors.segment_sizes(kazan) == {"total": 1, "telegram": 0, "whatsapp": 0, "viber": 0}


def test_segment_size_of_people_with_several_tags_counts_each_once(audience):
    # given
    segment = SegmentFactory(rules={"tags_any": ["vip", "moscow"], "platforms": ["telegram", "whatsapp"]})

    # when / then: Anna has both tags and both platforms
    assert names(selectors.segment_subscribers(segment)) == ["anna"]
    assert selectors.segment_sizes(segment) == {"total": 1, "telegram": 1, "whatsapp": 1, "viber": 0}


def test_the_audience_fixture_is_consistent_with_the_consent_trigger(audience):
    # when / then: nothing pending would be refused at commit
    check_deferred_constraints()
    assert sorted(Subscription.objects.values_list("platform", "status")) == sorted(
        [("telegram", "opted_in"), ("whatsapp", "opted_in"), ("telegram", "opted_out"), ("viber", "opted_in")]
    )
    assert Subscriber.objects.count() == 4
