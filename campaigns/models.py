"""Audience (subscribers, subscriptions, consent, segments), content, campaigns, ledger."""

from __future__ import annotations

from datetime import time
from typing import ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from channels.limits import Platform

from . import rules


class PlatformChoices(models.TextChoices):
    TELEGRAM = Platform.TELEGRAM.value, "Telegram"
    WHATSAPP = Platform.WHATSAPP.value, "WhatsApp"
    VIBER = Platform.VIBER.value, "Viber"


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True, verbose_name=_("name"))

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Subscriber(models.Model):
    """A person. How to reach them, and whether we may, lives on their subscriptions."""

    external_id = models.CharField(
        max_length=100, blank=True, default="", help_text=_("The person's id in your CRM."), verbose_name=_("external id")
    )
    name = models.CharField(max_length=200, blank=True, default="", verbose_name=_("name"))
    timezone = models.CharField(max_length=64, default="UTC", help_text=_("IANA name, e.g. Europe/Moscow."), verbose_name=_("timezone"))
    language = models.CharField(max_length=16, default="en", verbose_name=_("language"))
    tags = models.ManyToManyField(Tag, blank=True, related_name="subscribers", verbose_name=_("tags"))
    attributes = models.JSONField(default=dict, blank=True, verbose_name=_("attributes"))
    # Campaigns received in a row without a read, click or reply (the fatigue guard):
    # +1 when a campaign's message is sent, 0 when the person reads, clicks or writes.
    unanswered = models.PositiveIntegerField(
        default=0, editable=False, verbose_name=_("unanswered in a row"),
        help_text=_("Campaigns received in a row without a read, click or reply."))
    tester = models.BooleanField(
        default=False, verbose_name=_("tester"),
        help_text=_("Receives test sends of drafts and campaigns at once, outside caps and quiet hours."))
    # The name case-folded (Cyrillic included), kept by save(): SQLite's LIKE folds only ASCII.
    search_name = models.CharField(max_length=200, blank=True, default="", editable=False, db_index=True, verbose_name=_("search name"))
    # Set when the person was erased (GDPR art. 17, 152-FZ art. 21): nothing identifying
    # is left on the row or its subscriptions; only the pseudonymous consent trail remains.
    erased_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("erased at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"], condition=~Q(external_id=""), name="subscriber_external_id_unique"
            )
        ]
        permissions = [
            ("import_subscribers", "Can import subscribers from a CSV file"),
            ("erase_subscriber", "Can erase a person (right to erasure)"),
            ("export_subscriber", "Can export everything held about a person (right of access)"),
        ]

    def __str__(self) -> str:
        return self.name or self.external_id or f"subscriber #{self.pk}"

    def save(self, *args, **kwargs) -> None:
        self.search_name = self.name.casefold()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = {*update_fields, "search_name"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors = {}
        try:
            rules.parse_timezone(self.timezone)
        except ValueError as exc:
            errors["timezone"] = str(exc)
        try:
            self.language = rules.normalize_language(self.language)
        except ValueError as exc:
            errors["language"] = str(exc)
        if not isinstance(self.attributes, dict):
            errors["attributes"] = gettext("attributes must be an object")
        if errors:
            raise ValidationError(errors)


class SenderAccount(models.Model):
    """A bot or number we send from: a Telegram bot, a WhatsApp number, a Viber bot.

    The environment variables (TELEGRAM_BOT_TOKEN, ...) remain the *default* account of each
    platform: a subscription, campaign or list with no account uses them. Each account here
    has its own credentials (encrypted at rest, campaigns/credentials.py), its own ceiling
    shared by all workers, and its own webhook path (/webhooks/<platform>/<slug>/)."""

    # What each platform's credentials hold; the secret ones are never shown again once saved.
    FIELDS: ClassVar[dict[str, tuple[str, ...]]] = {
        "telegram": ("token", "webhook_secret", "api_url"),
        "whatsapp": ("access_token", "phone_number_id", "app_secret", "verify_token", "business_account_id", "api_url"),
        "viber": ("auth_token", "sender_name", "api_url"),
    }
    REQUIRED: ClassVar[dict[str, tuple[str, ...]]] = {
        "telegram": ("token",),
        "whatsapp": ("access_token", "phone_number_id"),
        "viber": ("auth_token",),
    }
    PUBLIC: ClassVar[frozenset[str]] = frozenset({"phone_number_id", "business_account_id", "sender_name", "api_url"})

    platform = models.CharField(max_length=16, choices=PlatformChoices.choices, verbose_name=_("platform"))
    name = models.CharField(max_length=100, verbose_name=_("name"), help_text=_("e.g. \"VIP bot\", \"Moscow number\"."))
    slug = models.SlugField(max_length=50, unique=True, verbose_name=_("slug"),
                            help_text=_("Its webhook path: /webhooks/<platform>/<slug>/ (letters, digits, - and _)."))
    credentials_encrypted = models.TextField(blank=True, default="", editable=False,
                                             verbose_name=_("credentials (encrypted)"))
    rate_per_second = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.01), MaxValueValidator(10000)],
        verbose_name=_("ceiling (messages a second)"),
        help_text=_("Shared by all workers; empty: the platform's default ceiling (TACT_RATE_<PLATFORM>)."))
    active = models.BooleanField(default=True, verbose_name=_("active"),
                                 help_text=_("Inactive: campaigns cannot pick it and its webhooks answer 404."))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("sender account")
        verbose_name_plural = _("sender accounts")
        ordering = ["platform", "name"]

    def __str__(self) -> str:
        return f"{self.get_platform_display()}: {self.name}"

    @property
    def credentials(self) -> dict[str, str]:
        from .credentials import decrypt

        return decrypt(self.credentials_encrypted)

    def set_credentials(self, values: dict[str, str]) -> None:
        from .credentials import encrypt

        allowed = self.FIELDS[self.platform]
        self.credentials_encrypted = encrypt({k: str(v) for k, v in values.items() if k in allowed and v})


class Subscription(models.Model):
    """One way to reach a person on one platform, and whether we may."""

    class Status(models.TextChoices):
        OPTED_IN = "opted_in", _("opted in")
        OPTED_OUT = "opted_out", _("opted out")
        BLOCKED = "blocked", _("blocked")
        UNREACHABLE = "unreachable", _("unreachable")

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="subscriptions", verbose_name=_("subscriber"))
    platform = models.CharField(max_length=16, choices=PlatformChoices.choices, verbose_name=_("platform"))
    # The bot or number the person subscribed to; empty: the platform's default account
    # (the environment's credentials). Consent is per account: a STOP to one bot is not a
    # STOP to another brand's bot.
    account = models.ForeignKey(SenderAccount, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="subscriptions", verbose_name=_("sender account"),
                                help_text=_("Empty: the platform's default account."))
    address = models.CharField(
        max_length=64, help_text=_("Telegram chat id, phone in E.164 (WhatsApp, Viber) or Viber user id."), verbose_name=_("address")
    )
    # Set only through campaigns.services, which writes the ConsentEvent in the same
    # transaction; on PostgreSQL a deferred trigger refuses an opt-in without one.
    status = models.CharField(max_length=16, choices=Status.choices, editable=False, verbose_name=_("status"))
    saved_our_number = models.BooleanField(
        default=False, help_text=_("WhatsApp: the person saved our number. Only the Business app's broadcast lists need it; "
        "Tact sends through the Cloud API, one to one, which does not."), verbose_name=_("saved our number")
    )
    last_inbound_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text=_("When the person last wrote to us (WhatsApp: free text only within 24 hours of it)."), verbose_name=_("last inbound at"),
    )
    # After erasure: a keyed hash (HMAC-SHA256) of platform and address, so that the consent
    # trail can be matched to an address someone presents, without storing the address.
    address_hash = models.CharField(max_length=64, blank=True, default="", editable=False, db_index=True, verbose_name=_("address hash"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["id"]
        constraints = [
            # one subscription per address and account (the default account counted as 0)
            models.UniqueConstraint("platform", Coalesce("account", 0, output_field=models.BigIntegerField()),
                                    "address", name="subscription_address_unique"),
            models.UniqueConstraint("subscriber", "platform",
                                    Coalesce("account", 0, output_field=models.BigIntegerField()),
                                    name="subscription_one_per_platform"),
        ]
        indexes = [models.Index(fields=["platform", "status"])]
        permissions = [
            ("opt_out_subscription", "Can opt a subscription out"),
            ("view_address", "Can see full phone numbers and chat ids (others see them masked)"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.address}"


class ConsentEvent(models.Model):
    """Append-only proof of every opt-in and opt-out (PostgreSQL refuses UPDATE/DELETE)."""

    class Kind(models.TextChoices):
        OPT_IN = "opt_in", _("opt-in")
        OPT_OUT = "opt_out", _("opt-out (consent withdrawn)")
        SUPPRESSION = "suppress", _("suppression (delivery bounce, not a withdrawal of consent)")
        ERASED = "erased", _("erased (the person's data was removed on request)")

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="consent_events", verbose_name=_("subscription"))
    kind = models.CharField(max_length=8, choices=Kind.choices, verbose_name=_("kind"))
    # The status the event moved the subscription to (opt-outs: opted_out, blocked, unreachable).
    status = models.CharField(max_length=16, choices=Subscription.Status.choices, verbose_name=_("status"))
    source = models.CharField(max_length=100, help_text=_("import, api, admin, telegram_start, ..."), verbose_name=_("source"))
    text = models.TextField(blank=True, default="", help_text=_("The wording the person was shown."), verbose_name=_("text"))
    evidence = models.JSONField(default=dict, blank=True, verbose_name=_("evidence"))
    by_person = models.BooleanField(
        default=False,
        help_text=_("The person acted themselves (a command, a button, a platform setting), "
        "not the brand on their behalf (import, API, admin)."), verbose_name=_("by person"),
    )
    at = models.DateTimeField(help_text=_("When the person gave or withdrew consent."), verbose_name=_("at"))
    recorded_at = models.DateTimeField(auto_now_add=True, verbose_name=_("recorded at"))

    class Meta:
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")
        ordering = ["id"]
        indexes = [models.Index(fields=["subscription", "-id"]), models.Index(fields=["kind", "at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.subscription} via {self.source} at {self.at:%Y-%m-%d %H:%M}"


class Segment(models.Model):
    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("dynamic (rules)")
        STATIC = "static", _("static (members)")

    name = models.CharField(max_length=200, verbose_name=_("name"))
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.DYNAMIC, verbose_name=_("kind"))
    rules = models.JSONField(
        default=dict,
        blank=True,
        help_text=_('e.g. {"tags_all": ["vip"], "tags_any": [], "platforms": ["telegram"], '
        '"attributes": {"city": "Moscow"}}'), verbose_name=_("rules"),
    )
    members = models.ManyToManyField(Subscriber, blank=True, related_name="static_segments", verbose_name=_("members"))
    max_size = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Campaigns refuse this segment while it has more people (VIP groups)."), verbose_name=_("max size")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class MediaKind(models.TextChoices):
    IMAGE = "image", _("image")
    VIDEO = "video", _("video")
    DOCUMENT = "document", _("document")


class Draft(models.Model):
    title = models.CharField(max_length=200, verbose_name=_("title"))
    body = models.TextField(help_text=_("The first line is what a push notification shows."), verbose_name=_("body"))
    buttons = models.JSONField(default=list, blank=True, help_text=_('[{"text": "Shop", "url": "https://..."}]'), verbose_name=_("buttons"))
    whatsapp_template = models.JSONField(
        null=True,
        blank=True,
        help_text=_('Approved template for people outside WhatsApp\'s 24-hour window: '
        '{"name": "black_friday", "language": "ru", "parameters": ["-30%"]}'), verbose_name=_("whatsapp template"),
    )
    media = models.FileField(upload_to="drafts/%Y/%m/", blank=True, verbose_name=_("media"),
                             help_text=_("One image, video or document sent with the message."))
    media_url = models.URLField(max_length=1000, blank=True, default="", verbose_name=_("media URL"),
                                help_text=_("Instead of an upload: the https address of the file."))
    media_kind = models.CharField(max_length=8, choices=MediaKind.choices, blank=True, default="",
                                  verbose_name=_("media kind"))
    media_name = models.CharField(max_length=255, blank=True, default="", editable=False, verbose_name=_("media name"))
    media_content_type = models.CharField(max_length=100, blank=True, default="", editable=False,
                                          verbose_name=_("media content type"))
    media_size = models.PositiveBigIntegerField(null=True, blank=True, editable=False, verbose_name=_("media size"))
    media_sha256 = models.CharField(max_length=64, blank=True, default="", editable=False,
                                    verbose_name=_("media SHA-256"))
    track_links = models.BooleanField(default=True, verbose_name=_("count button clicks"),
                                      help_text=_("Buttons lead through a short redirect that counts the click."))
    track_body_links = models.BooleanField(default=False, verbose_name=_("count clicks on links in the text"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("draft")
        verbose_name_plural = _("drafts")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        AWAITING_APPROVAL = "awaiting_approval", _("awaiting approval")

    class Kind(models.TextChoices):
        STANDARD = "standard", _("one message")
        AB_TEST = "ab_test", _("A/B test")
        VIP = "vip", _("VIP offers per group")

    class AbMetric(models.TextChoices):
        CLICKS = "clicks", _("click rate")
        READS = "reads", _("read rate")

    name = models.CharField(max_length=200, verbose_name=_("name"))
    draft = models.ForeignKey(Draft, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("draft"))
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="campaigns", verbose_name=_("segment"))
    platforms = models.JSONField(default=list, help_text=_("Any of telegram, whatsapp, viber."), verbose_name=_("platforms"))
    send_at = models.DateTimeField(verbose_name=_("send at"))
    local_time = models.BooleanField(
        default=False, help_text=_("Use send_at's wall-clock time in each subscriber's own time zone."), verbose_name=_("local time")
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Messages not sent by then are skipped."), verbose_name=_("expires at")
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, editable=False, verbose_name=_("status"))
    # Maker-checker (TACT_REQUIRE_APPROVAL): who asked for scheduling, and who approved it.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False, verbose_name=_("created by"))
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", editable=False, verbose_name=_("submitted by"))
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("submitted at"))
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", editable=False, verbose_name=_("approved by"))
    approved_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("approved at"))
    # The campaign's counts, kept when the retention purge removes its ledger rows.
    stats_archive = models.JSONField(null=True, blank=True, editable=False, verbose_name=_("stats archive"))
    # The content as it was when scheduled: later edits of the draft do not change it.
    content_title = models.CharField(max_length=200, blank=True, default="", editable=False, verbose_name=_("content title"))
    content_body = models.TextField(blank=True, default="", editable=False, verbose_name=_("content body"))
    content_buttons = models.JSONField(default=list, blank=True, editable=False, verbose_name=_("content buttons"))
    content_whatsapp_template = models.JSONField(null=True, blank=True, editable=False, verbose_name=_("content whatsapp template"))
    # {"kind", "name", "content_type", "size", "sha256", "path" (storage) or "url"}
    content_media = models.JSONField(null=True, blank=True, editable=False, verbose_name=_("content media"))
    content_track_links = models.BooleanField(default=True, editable=False, verbose_name=_("content tracks buttons"))
    content_track_body_links = models.BooleanField(default=False, editable=False,
                                                   verbose_name=_("content tracks links in the text"))
    scheduled_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("scheduled at"))
    started_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("finished at"))
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("cancelled at"))
    planned_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("planned at"))
    paused_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("paused at"))
    # Why sending cannot progress now (a platform refuses our account, the segment grew
    # over its max_size); empty when all is well.
    problem = models.TextField(blank=True, default="", editable=False, verbose_name=_("problem"))
    problem_since = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("problem since"))
    # Local-time campaigns are planned zone by zone near each zone's send time: the people
    # whose wall-clock send time is up to `planned_through` have rows; the next pass is due
    # at `next_plan_at`. `planned_at` is set when the last zone is planned.
    planned_through = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("planned through"))
    next_plan_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("next plan at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    # --- campaign kinds (issue 12) ---------------------------------------------------
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.STANDARD, verbose_name=_("kind"))
    manual = models.BooleanField(
        default=False, verbose_name=_("send by hand from the phone apps"),
        help_text=_("The audience is packed into WhatsApp broadcast lists (256, only people who saved our number) "
                    "and Viber groups (199) to download and send from the apps; the workers send nothing."))
    timezone = models.CharField(max_length=64, blank=True, default="", verbose_name=_("time zone"),
                                help_text=_("The zone of send_at and of the recurrence; empty: the installation's."))
    # Recurring: the series itself never sends; each occurrence is a run (a campaign with
    # series=this one) with its own ledger and stats.
    recurrence = models.CharField(
        max_length=500, blank=True, default="", verbose_name=_("recurrence"),
        help_text=_("An RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0; empty: once."))
    recurrence_until = models.DateTimeField(null=True, blank=True, verbose_name=_("repeat until"))
    series = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="runs",
                               editable=False, verbose_name=_("series"))
    occurrence = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("occurrence"))
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("next run at"))
    # Spread and window: evenly over N hours; only between local hours (on top of quiet hours).
    spread_hours = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.01), MaxValueValidator(168)],
        verbose_name=_("spread over hours"), help_text=_("Send evenly over this many hours instead of at the ceiling."))
    send_window_start = models.TimeField(null=True, blank=True, verbose_name=_("send window starts"),
                                         help_text=_("Local time of each person; with the end, e.g. 10:00-20:00."))
    send_window_end = models.TimeField(null=True, blank=True, verbose_name=_("send window ends"))
    protect_content = models.BooleanField(
        default=False, verbose_name=_("protect content"),
        help_text=_("Telegram: the message cannot be forwarded or saved."))
    # The account each platform sends from (empty: that platform's default account); only
    # subscriptions of that account are in the audience.
    telegram_account = models.ForeignKey(SenderAccount, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+", limit_choices_to={"platform": "telegram"},
                                         verbose_name=_("Telegram account"), help_text=_("Empty: the default bot."))
    whatsapp_account = models.ForeignKey(SenderAccount, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+", limit_choices_to={"platform": "whatsapp"},
                                         verbose_name=_("WhatsApp account"), help_text=_("Empty: the default number."))
    viber_account = models.ForeignKey(SenderAccount, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+", limit_choices_to={"platform": "viber"},
                                      verbose_name=_("Viber account"), help_text=_("Empty: the default bot."))
    paid_broadcast = models.BooleanField(
        default=False, verbose_name=_("Telegram paid broadcast"),
        help_text=_("Up to 1,000 messages a second for 0.1 Telegram Stars per message above the free 30 a second "
                    "(allow_paid_broadcast); scheduling checks the bot's Stars balance."))
    # A/B test: a share of the audience split evenly over the variants; the winner goes to the rest.
    ab_test_share = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(100)],
        verbose_name=_("test share (%)"), help_text=_("The share of the audience that tests the variants."))
    ab_wait_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], verbose_name=_("pick the winner after (minutes)"))
    ab_metric = models.CharField(max_length=8, choices=AbMetric.choices, default=AbMetric.CLICKS,
                                 verbose_name=_("winner by"))
    ab_auto = models.BooleanField(default=True, verbose_name=_("send the winner automatically"),
                                  help_text=_("Off: the marketer picks the winner."))
    ab_winner = models.ForeignKey("CampaignVariant", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", editable=False, verbose_name=_("winner"))
    ab_decided_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("winner picked at"))
    # Follow-up: a campaign over exactly the people of another who did not read / click.
    follow_up_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="follow_ups", editable=False, verbose_name=_("follow-up of"))
    follow_up_rule = models.CharField(max_length=200, blank=True, default="", editable=False,
                                      verbose_name=_("follow-up rule"))

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-send_at", "-id"]
        indexes = [models.Index(fields=["status", "send_at"])]
        permissions = [
            ("schedule_campaign", "Can schedule a campaign (or ask for approval when approval is required)"),
            ("approve_campaign", "Can approve a campaign another user asked to schedule"),
            ("pause_campaign", "Can pause and resume a campaign"),
            ("cancel_campaign", "Can cancel a campaign"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("send_at")),
                name="campaign_expires_after_send_at",
            ),
            # one run per occurrence of a series, however many beats tick
            models.UniqueConstraint(fields=["series", "occurrence"], condition=Q(series__isnull=False),
                                    name="campaign_run_once_per_occurrence"),
        ]

    def account_id_for(self, platform: str) -> int | None:
        """The sender account of a platform (None: that platform's default account)."""
        return getattr(self, f"{platform}_account_id", None)

    def __str__(self) -> str:
        return self.name


class CampaignVariant(models.Model):
    """One version of a campaign's message: an A/B test's variant, or a VIP group's own offer
    (`segment`: the group). Its content is frozen when the campaign is scheduled."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants", verbose_name=_("campaign"))
    label = models.CharField(max_length=50, verbose_name=_("label"), help_text=_("A, B, ... or the group's name."))
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))
    draft = models.ForeignKey(Draft, on_delete=models.PROTECT, related_name="variants", verbose_name=_("draft"))
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.PROTECT, related_name="vip_variants",
                                verbose_name=_("VIP group"), help_text=_("VIP offers: the group that gets this variant."))
    content_body = models.TextField(blank=True, default="", editable=False, verbose_name=_("content body"))
    content_buttons = models.JSONField(default=list, blank=True, editable=False, verbose_name=_("content buttons"))
    content_whatsapp_template = models.JSONField(null=True, blank=True, editable=False,
                                                 verbose_name=_("content whatsapp template"))
    content_media = models.JSONField(null=True, blank=True, editable=False, verbose_name=_("content media"))
    content_track_links = models.BooleanField(default=True, editable=False, verbose_name=_("content tracks buttons"))
    content_track_body_links = models.BooleanField(default=False, editable=False,
                                                   verbose_name=_("content tracks links in the text"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("campaign variant")
        verbose_name_plural = _("campaign variants")
        ordering = ["campaign_id", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "label"], name="variant_label_once_per_campaign")]

    def __str__(self) -> str:
        return f"{self.campaign} — {self.label}"


class SendList(models.Model):
    """A platform list of a campaign: at most the platform's list size, sent by one task."""

    class State(models.TextChoices):
        WAITING = "waiting", _("waiting for its time")
        QUEUED = "queued", _("queued or sending")
        DONE = "done", _("Done")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="send_lists", verbose_name=_("campaign"))
    platform = models.CharField(max_length=16, choices=PlatformChoices.choices, verbose_name=_("platform"))
    number = models.PositiveIntegerField(help_text=_("1, 2, ... within the campaign."), verbose_name=_("number"))
    size = models.PositiveIntegerField(verbose_name=_("size"))
    state = models.CharField(max_length=8, choices=State.choices, default=State.WAITING, verbose_name=_("state"))
    next_due = models.DateTimeField(null=True, blank=True, help_text=_("When its next row may be sent."), verbose_name=_("next due"))
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text=_("Last sign of life of its task."), verbose_name=_("heartbeat at"))
    # Its rows all get this variant (a list never mixes two messages); none: the campaign's own
    # content, or (an A/B test's remainder) the winner once it is picked.
    variant = models.ForeignKey(CampaignVariant, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="send_lists", verbose_name=_("variant"))
    # A manual campaign's list: downloaded and sent by the marketer from the phone app.
    marked_sent_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("marked sent at"))
    # The account it is sent from (its campaign's for its platform; empty: the default one).
    account = models.ForeignKey(SenderAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("sender account"))
    marked_sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+", editable=False, verbose_name=_("marked sent by"))

    class Meta:
        verbose_name = _("send list")
        verbose_name_plural = _("send lists")
        ordering = ["campaign_id", "number"]
        constraints = [models.UniqueConstraint(fields=["campaign", "number"], name="send_list_number_unique")]
        indexes = [models.Index(fields=["state", "next_due"])]

    def __str__(self) -> str:
        return f"{self.campaign} list {self.number} ({self.platform}, {self.size})"


class Delivery(models.Model):
    """The ledger: one row per campaign and person, moved through explicit states."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")
        HELD = "held", _("Held")
        SKIPPED = "skipped", _("Skipped")
        UNCERTAIN = "uncertain", _("Uncertain")

    # The references are checked by the database per statement, not per row (migration 0021:
    # a row-by-row foreign key check cost planning a million rows more than writing them), and
    # indexed by the indexes below that start with them.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("campaign"),
                                 db_constraint=False, db_index=False)
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries",
                                   verbose_name=_("subscriber"), db_constraint=False, db_index=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries",
                                     verbose_name=_("subscription"), db_constraint=False, db_index=False)
    platform = models.CharField(max_length=16, choices=PlatformChoices.choices, verbose_name=_("platform"))
    send_list = models.ForeignKey(SendList, on_delete=models.CASCADE, related_name="deliveries", null=True,
                                  verbose_name=_("send list"), db_constraint=False, db_index=False)
    variant = models.ForeignKey(CampaignVariant, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="deliveries", verbose_name=_("variant"), db_constraint=False, db_index=False)
    list_number = models.PositiveIntegerField(verbose_name=_("list number"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLANNED, verbose_name=_("status"))
    reason = models.TextField(blank=True, default="", verbose_name=_("reason"))
    send_after = models.DateTimeField(help_text=_("Not before this time (local time and quiet hours applied)."), verbose_name=_("send after"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    platform_message_id = models.CharField(max_length=128, blank=True, default="", verbose_name=_("platform message id"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))
    read_at = models.DateTimeField(null=True, blank=True, verbose_name=_("read at"))
    clicked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("clicked at"),
                                      help_text=_("The first click on any of its tracked links."))

    class Meta:
        verbose_name = _("delivery")
        ordering = ["campaign_id", "list_number", "id"]
        verbose_name_plural = _("deliveries")
        constraints = [
            # person first: it is also the index of a person's rows (erasure, privacy export)
            models.UniqueConstraint(fields=["subscriber", "campaign"], name="delivery_once_per_person"),
        ]
        # Every index costs each planned row a write (migration 0021): none repeats another's
        # leading columns, and those only some rows need are partial.
        indexes = [
            models.Index(fields=["campaign", "status", "list_number"]),
            # /api/deliveries/?campaign=N: cursor pages in id order (migration 0019)
            models.Index(fields=["campaign", "id"], name="delivery_campaign_id_idx"),
            models.Index(fields=["send_list", "status", "send_after"]),
            # the caps (sender, forecast): a person's sends that count against them (delivery.states.
            # COUNTED), latest first, read from the index alone
            models.Index(fields=["subscriber", "-sent_at", "campaign"],
                         condition=Q(sent_at__isnull=False, status__in=["sending", "sent", "delivered", "read",
                                                                         "uncertain"]),
                         name="delivery_person_sent_idx"),
            models.Index(fields=["subscription", "status"]),
            # receipts find their row by the platform's message id
            models.Index(fields=["platform", "platform_message_id"], condition=~Q(platform_message_id=""),
                         name="delivery_message_id_idx"),
            models.Index(fields=["variant"], condition=Q(variant__isnull=False), name="delivery_variant_idx"),
            # the dashboard's 30-day chart counts by day; only rows that reached the state are indexed
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="delivery_sent_at_idx"),
            models.Index(fields=["delivered_at"], condition=Q(delivered_at__isnull=False),
                         name="delivery_delivered_at_idx"),
            models.Index(fields=["read_at"], condition=Q(read_at__isnull=False), name="delivery_read_at_idx"),
            models.Index(fields=["clicked_at"], condition=Q(clicked_at__isnull=False), name="delivery_clicked_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} -> {self.subscriber} ({self.status})"


class FrequencyPolicy(models.Model):
    """The one policy for all campaigns and platforms (a single row, edited in the admin)."""

    max_per_day = models.PositiveSmallIntegerField(
        null=True, blank=True, default=1, validators=[MinValueValidator(1)], help_text=_("Per calendar day in the subscriber's zone; empty: no cap."), verbose_name=_("max per day")
    )
    max_per_week = models.PositiveSmallIntegerField(
        null=True, blank=True, default=3, validators=[MinValueValidator(1)], help_text=_("Per rolling 7 days; empty: no cap."), verbose_name=_("max per week")
    )
    quiet_start = models.TimeField(default=time(21, 0), help_text=_("Local time when quiet hours begin."), verbose_name=_("quiet start"))
    quiet_end = models.TimeField(default=time(9, 0), help_text=_("Local time when quiet hours end."), verbose_name=_("quiet end"))
    fatigue_threshold = models.PositiveSmallIntegerField(
        null=True, blank=True, default=10, verbose_name=_("fatigue threshold"),
        help_text=_("After this many campaigns in a row without a read, click or reply, a person is held out of "
                    "marketing until they interact again; empty: off."))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    SINGLETON_ID: ClassVar[int] = 1

    class Meta:
        verbose_name = _("frequency policy and quiet hours")
        verbose_name_plural = _("frequency policy and quiet hours")
        permissions = [("view_system_status", "Can see the system status (workers, queues, beat)")]

    def __str__(self) -> str:
        day = self.max_per_day if self.max_per_day is not None else "any"
        week = self.max_per_week if self.max_per_week is not None else "any"
        return (
            f"{day}/day, {week}/7 days, quiet {self.quiet_start:%H:%M}-{self.quiet_end:%H:%M}"
        )

    def save(self, *args, **kwargs) -> None:
        self.pk = self.SINGLETON_ID
        super().save(*args, **kwargs)

    @classmethod
    def current(cls) -> FrequencyPolicy:
        """The policy: its defaults, unsaved, until someone saves it. A read never writes, so
        scheduling or a forecast leaves no "created" entry in the audit log."""
        return cls.objects.filter(pk=cls.SINGLETON_ID).first() or cls(pk=cls.SINGLETON_ID)

    def as_rule(self) -> rules.FrequencyPolicy:
        return rules.FrequencyPolicy(max_per_day=self.max_per_day, max_per_week=self.max_per_week)

    def quiet_hours(self) -> rules.QuietHours | None:
        if self.quiet_start == self.quiet_end:
            return None
        return rules.QuietHours(self.quiet_start, self.quiet_end)


class ImportJob(models.Model):
    """A CSV import run in the background: its progress and the rows it refused."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("created by"))
    file_name = models.CharField(max_length=255, blank=True, default="", verbose_name=_("file name"))
    # The uploaded bytes, removed once the import is done (they hold personal data).
    data = models.BinaryField(null=True, blank=True, editable=False, verbose_name=_("data"))
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED, verbose_name=_("state"))
    total_rows = models.PositiveIntegerField(default=0, verbose_name=_("total rows"))
    processed_rows = models.PositiveIntegerField(default=0, verbose_name=_("processed rows"))
    created = models.PositiveIntegerField(default=0, verbose_name=_("created"))
    updated = models.PositiveIntegerField(default=0, verbose_name=_("updated"))
    errors = models.JSONField(default=list, blank=True, help_text=_('[{"line": 7, "error": "..."}]'), verbose_name=_("errors"))
    warnings = models.JSONField(default=list, blank=True, help_text=_('[{"line": 7, "warning": "..."}] (imported rows)'), verbose_name=_("warnings"))
    problem = models.TextField(blank=True, default="", help_text=_("Why the whole file failed, if it did."), verbose_name=_("problem"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.file_name or 'CSV'}, {self.state})"


class InstallationSettings(models.Model):
    """Settings an operator changes in the admin (a single row), over the environment's defaults."""

    default_phone_region = models.CharField(
        max_length=2, blank=True, default="",
        help_text=_("Region for phones written without a country code, e.g. RU reads 8 916 123-45-67 as +7 916 "
        "123-45-67. Empty: TACT_DEFAULT_PHONE_REGION, else such numbers are refused."), verbose_name=_("default phone region"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    SINGLETON_ID: ClassVar[int] = 1

    class Meta:
        verbose_name = _("installation settings")
        verbose_name_plural = _("installation settings")

    def __str__(self) -> str:
        return "installation settings"

    def save(self, *args, **kwargs) -> None:
        self.pk = self.SINGLETON_ID
        super().save(*args, **kwargs)

    @classmethod
    def current(cls) -> InstallationSettings:
        found, _ = cls.objects.get_or_create(pk=cls.SINGLETON_ID)
        return found


class UserProfile(models.Model):
    """A staff user's own language and time zone for the admin (empty: the browser's / TIME_ZONE)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tact_profile", verbose_name=_("user"))
    timezone = models.CharField(max_length=64, blank=True, default="", help_text=_("IANA name, e.g. Asia/Vladivostok."), verbose_name=_("timezone"))
    language = models.CharField(max_length=8, blank=True, default="", help_text=_("en or ru; empty: the browser's."), verbose_name=_("language"))

    class Meta:
        verbose_name = _("user profile")
        verbose_name_plural = _("user profiles")

    def __str__(self) -> str:
        return f"profile of {self.user}"


class Click(models.Model):
    """The first click of one delivery on one of its tracked links (counted once; no IP, no user agent)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="clicks", verbose_name=_("delivery"))
    link = models.PositiveSmallIntegerField(verbose_name=_("link"), help_text=_("0, 1, ...: the link's place in the content."))
    url = models.TextField(verbose_name=_("URL"))
    at = models.DateTimeField(verbose_name=_("at"))

    class Meta:
        verbose_name = _("click")
        verbose_name_plural = _("clicks")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["delivery", "link"], name="click_once_per_delivery_link")]
        indexes = [models.Index(fields=["at"])]

    def __str__(self) -> str:
        return f"click on link {self.link} of delivery {self.delivery_id}"


class CouponCode(models.Model):
    """One code of a campaign's pool; given to exactly one delivery, never twice."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="coupons", verbose_name=_("campaign"))
    variant = models.ForeignKey(CampaignVariant, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="coupons", verbose_name=_("variant"),
                                help_text=_("A VIP group's own pool; empty: the campaign's."))
    code = models.CharField(max_length=64, verbose_name=_("code"))
    delivery = models.OneToOneField(Delivery, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="coupon", verbose_name=_("delivery"))
    assigned_at = models.DateTimeField(null=True, blank=True, verbose_name=_("assigned at"))

    class Meta:
        verbose_name = _("coupon code")
        verbose_name_plural = _("coupon codes")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "code"], name="coupon_code_unique_per_campaign")]
        indexes = [models.Index(fields=["campaign"], condition=Q(delivery__isnull=True), name="coupon_free_idx")]

    def __str__(self) -> str:
        return self.code


class MediaUpload(models.Model):
    """A file uploaded once to a platform account and reused there (Telegram file_id, WhatsApp media id)."""

    platform = models.CharField(max_length=16, choices=PlatformChoices.choices, verbose_name=_("platform"))
    account = models.CharField(max_length=64, verbose_name=_("account"),
                               help_text=_("Which account of the platform (a hash of its credentials)."))
    sha256 = models.CharField(max_length=64, verbose_name=_("SHA-256"))
    remote_id = models.CharField(max_length=255, verbose_name=_("remote id"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("media upload")
        verbose_name_plural = _("media uploads")
        constraints = [models.UniqueConstraint(fields=["platform", "account", "sha256"], name="media_upload_once")]

    def __str__(self) -> str:
        return f"{self.platform} {self.remote_id}"


class TestSend(models.Model):
    """A test message to a tester, outside every campaign's ledger, stats and caps."""

    class Status(models.TextChoices):
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        UNCERTAIN = "uncertain", _("Uncertain")

    draft = models.ForeignKey(Draft, null=True, blank=True, on_delete=models.CASCADE, related_name="test_sends",
                              verbose_name=_("draft"))
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="test_sends",
                                 verbose_name=_("campaign"))
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="test_sends",
                                     verbose_name=_("subscription"))
    platform = models.CharField(max_length=16, choices=PlatformChoices.choices, verbose_name=_("platform"))
    status = models.CharField(max_length=16, choices=Status.choices, verbose_name=_("status"))
    reason = models.TextField(blank=True, default="", verbose_name=_("reason"))
    platform_message_id = models.CharField(max_length=128, blank=True, default="", verbose_name=_("platform message id"))
    text = models.TextField(blank=True, default="", verbose_name=_("text"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("requested by"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    __test__ = False  # not a pytest test class

    class Meta:
        verbose_name = _("test send")
        verbose_name_plural = _("test sends")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"test send {self.pk} ({self.platform}, {self.status})"


class WhatsAppTemplate(models.Model):
    """An approved message template of the WhatsApp Business account, as last synced from the Graph API."""

    name = models.CharField(max_length=512, verbose_name=_("name"))
    language = models.CharField(max_length=16, verbose_name=_("language"))
    category = models.CharField(max_length=32, blank=True, default="", verbose_name=_("category"))
    status = models.CharField(max_length=32, blank=True, default="", verbose_name=_("status"))
    quality = models.CharField(max_length=32, blank=True, default="", verbose_name=_("quality"))
    components = models.JSONField(default=list, blank=True, verbose_name=_("components"))
    # [{"component": "body", "index": 1, "example": "..."}, ...]: what a draft maps to placeholders
    variables = models.JSONField(default=list, blank=True, verbose_name=_("variables"))
    remote_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("remote id"))
    synced_at = models.DateTimeField(verbose_name=_("synced at"))

    class Meta:
        verbose_name = _("WhatsApp template")
        verbose_name_plural = _("WhatsApp templates")
        ordering = ["name", "language"]
        constraints = [models.UniqueConstraint(fields=["name", "language"], name="whatsapp_template_name_language")]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"


class BrandChannel(models.Model):
    """The brand's own channel (a Telegram channel, a Viber Channel): one post reaches all its
    subscribers, who subscribed themselves. Tact posts there as an administrator."""

    class Platform(models.TextChoices):
        TELEGRAM = "telegram", "Telegram"
        VIBER = "viber", "Viber"

    class NightPolicy(models.TextChoices):
        SILENT = "silent", _("post silently (no notification sound)")
        MOVE = "move", _("move to the end of the night")

    platform = models.CharField(max_length=16, choices=Platform.choices, verbose_name=_("platform"))
    chat = models.CharField(max_length=255, verbose_name=_("chat"),
                            help_text=_("Telegram: @username or numeric id of the channel. Viber: the channel's id."))
    title = models.CharField(max_length=255, blank=True, default="", verbose_name=_("title"))
    # Viber Channels Post API: the channel's own token and the id of the admin posting.
    token = models.CharField(max_length=255, blank=True, default="", verbose_name=_("token"),
                             help_text=_("Viber: the channel's token (from the channel's settings). Never shown again."))
    admin_id = models.CharField(max_length=255, blank=True, default="", verbose_name=_("admin id"),
                                help_text=_("Viber: the id of the channel's admin that posts."))
    timezone = models.CharField(max_length=64, blank=True, default="", verbose_name=_("time zone"),
                                help_text=_("Night hours are read in it; empty: the installation's zone."))
    can_post = models.BooleanField(default=False, editable=False, verbose_name=_("can post"))
    problem = models.TextField(blank=True, default="", editable=False, verbose_name=_("problem"))
    checked_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("checked at"))
    subscribers = models.PositiveIntegerField(null=True, blank=True, editable=False, verbose_name=_("subscribers"))
    # The cadence policy: regularly but not often.
    max_posts_per_day = models.PositiveSmallIntegerField(default=3, verbose_name=_("at most posts a day"))
    min_gap_minutes = models.PositiveIntegerField(default=120, verbose_name=_("at least minutes between posts"))
    night_start = models.TimeField(default=time(22, 0), verbose_name=_("night starts"))
    night_end = models.TimeField(default=time(8, 0), verbose_name=_("night ends"))
    night_policy = models.CharField(max_length=8, choices=NightPolicy.choices, default=NightPolicy.SILENT,
                                    verbose_name=_("a notifying post at night"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("brand channel")
        verbose_name_plural = _("brand channels")
        ordering = ["platform", "title", "id"]
        constraints = [models.UniqueConstraint(fields=["platform", "chat"], name="brand_channel_unique_chat")]

    def __str__(self) -> str:
        return self.title or self.chat


class Post(models.Model):
    """A draft published to one or more brand channels at a time; exactly once per channel."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        PUBLISHING = "publishing", _("Publishing")
        PUBLISHED = "published", _("Published")
        FAILED = "failed", _("Not published")  # every channel refused it (none published or uncertain)
        CANCELLED = "cancelled", _("Cancelled")

    name = models.CharField(max_length=200, blank=True, default="", verbose_name=_("name"))
    draft = models.ForeignKey(Draft, on_delete=models.PROTECT, related_name="posts", verbose_name=_("draft"))
    channels = models.ManyToManyField(BrandChannel, related_name="posts", verbose_name=_("channels"))
    publish_at = models.DateTimeField(verbose_name=_("publish at"))
    silent = models.BooleanField(default=False, verbose_name=_("silent"),
                                 help_text=_("Subscribers get no notification sound."))
    pin = models.BooleanField(default=False, verbose_name=_("pin"), help_text=_("Pin it in the channel once published."))
    protect_content = models.BooleanField(default=False, verbose_name=_("protect content"),
                                          help_text=_("Telegram: it cannot be forwarded or saved."))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, editable=False,
                              verbose_name=_("status"))
    # The content as it was when scheduled (as a campaign freezes it).
    content_body = models.TextField(blank=True, default="", editable=False, verbose_name=_("content body"))
    content_buttons = models.JSONField(default=list, blank=True, editable=False, verbose_name=_("content buttons"))
    content_media = models.JSONField(null=True, blank=True, editable=False, verbose_name=_("content media"))
    content_track_links = models.BooleanField(default=True, editable=False, verbose_name=_("content tracks buttons"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False, verbose_name=_("created by"))
    scheduled_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("scheduled at"))
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("cancelled at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("channel post")
        verbose_name_plural = _("channel posts")
        ordering = ["-publish_at", "-id"]
        indexes = [models.Index(fields=["status", "publish_at"])]
        permissions = [("schedule_post", "Can schedule and cancel a channel post")]

    def __str__(self) -> str:
        return self.name or f"post #{self.pk}"


class Publication(models.Model):
    """The posts' ledger: one row per post and channel, moved through explicit states; a lost
    answer is `uncertain` and never posted again."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        SENDING = "sending", _("Sending")
        PUBLISHED = "published", _("Published")
        FAILED = "failed", _("Failed")
        UNCERTAIN = "uncertain", _("Uncertain")
        CANCELLED = "cancelled", _("Cancelled")

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="publications", verbose_name=_("post"))
    channel = models.ForeignKey(BrandChannel, on_delete=models.PROTECT, related_name="publications",
                                verbose_name=_("channel"))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PLANNED, verbose_name=_("status"))
    reason = models.TextField(blank=True, default="", verbose_name=_("reason"))
    publish_after = models.DateTimeField(verbose_name=_("publish after"),
                                         help_text=_("The post's time, or later when the night policy moved it."))
    silent = models.BooleanField(default=False, verbose_name=_("silent"),
                                 help_text=_("Sent without notification (asked for, or night hours)."))
    message_id = models.CharField(max_length=128, blank=True, default="", verbose_name=_("message id"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    published_at = models.DateTimeField(null=True, blank=True, verbose_name=_("published at"))
    pinned_at = models.DateTimeField(null=True, blank=True, verbose_name=_("pinned at"))
    clicks = models.PositiveIntegerField(default=0, verbose_name=_("clicks"))
    reactions = models.JSONField(default=dict, blank=True, verbose_name=_("reactions"),
                                 help_text=_('Telegram reaction counts, e.g. {"👍": 12, "🔥": 3}.'))
    reactions_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reactions at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("publication")
        verbose_name_plural = _("publications")
        ordering = ["publish_after", "id"]
        constraints = [models.UniqueConstraint(fields=["post", "channel"], name="publication_once_per_channel")]
        indexes = [models.Index(fields=["status", "publish_after"]),
                   models.Index(fields=["channel", "message_id"])]

    def __str__(self) -> str:
        return f"{self.post} in {self.channel}"


class ChannelSample(models.Model):
    """A channel's subscriber count as sampled (daily, and around posts): joins and leaves."""

    channel = models.ForeignKey(BrandChannel, on_delete=models.CASCADE, related_name="samples",
                                verbose_name=_("channel"))
    at = models.DateTimeField(verbose_name=_("at"))
    subscribers = models.PositiveIntegerField(verbose_name=_("subscribers"))

    class Meta:
        verbose_name = _("channel sample")
        verbose_name_plural = _("channel samples")
        ordering = ["channel", "at"]
        indexes = [models.Index(fields=["channel", "at"])]

    def __str__(self) -> str:
        return f"{self.channel}: {self.subscribers} at {self.at:%Y-%m-%d %H:%M}"


class CampaignCount(models.Model):
    """A campaign's ledger counted by status, kept as its rows change (not a GROUP BY over
    millions of rows): the campaign list and the API read these. Spread over a few shards so
    that many workers updating one campaign do not queue on one row."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="counts", verbose_name=_("campaign"))
    status = models.CharField(max_length=16, verbose_name=_("status"))
    shard = models.PositiveSmallIntegerField(default=0, verbose_name=_("shard"))
    n = models.BigIntegerField(default=0, verbose_name=_("count"))

    class Meta:
        verbose_name = _("campaign count")
        verbose_name_plural = _("campaign counts")
        constraints = [models.UniqueConstraint(fields=["campaign", "status", "shard"], name="campaign_count_once")]


class Heartbeat(models.Model):
    """The last sign of life of a periodic part of the system (beat's tick, the sweeper),
    written by the part itself and read by /health/ and the System page."""

    name = models.CharField(max_length=64, unique=True, verbose_name=_("name"))
    at = models.DateTimeField(verbose_name=_("at"))
    detail = models.JSONField(default=dict, blank=True, verbose_name=_("detail"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
