"""Audience (subscribers, subscriptions, consent, segments), content, campaigns, ledger."""

from __future__ import annotations

from datetime import time
from typing import ClassVar

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from channels.limits import Platform

from . import rules


class PlatformChoices(models.TextChoices):
    TELEGRAM = Platform.TELEGRAM.value, "Telegram"
    WHATSAPP = Platform.WHATSAPP.value, "WhatsApp"
    VIBER = Platform.VIBER.value, "Viber"


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Subscriber(models.Model):
    """A person. How to reach them, and whether we may, lives on their subscriptions."""

    external_id = models.CharField(
        max_length=100, blank=True, default="", help_text="The person's id in your CRM."
    )
    name = models.CharField(max_length=200, blank=True, default="")
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Moscow.")
    language = models.CharField(max_length=16, default="en")
    tags = models.ManyToManyField(Tag, blank=True, related_name="subscribers")
    attributes = models.JSONField(default=dict, blank=True)
    # The name case-folded (Cyrillic included), kept by save(): SQLite's LIKE folds only ASCII.
    search_name = models.CharField(max_length=200, blank=True, default="", editable=False, db_index=True)
    # Set when the person was erased (GDPR art. 17, 152-FZ art. 21): nothing identifying
    # is left on the row or its subscriptions; only the pseudonymous consent trail remains.
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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
            errors["attributes"] = "attributes must be an object"
        if errors:
            raise ValidationError(errors)


class Subscription(models.Model):
    """One way to reach a person on one platform, and whether we may."""

    class Status(models.TextChoices):
        OPTED_IN = "opted_in", "opted in"
        OPTED_OUT = "opted_out", "opted out"
        BLOCKED = "blocked", "blocked"
        UNREACHABLE = "unreachable", "unreachable"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="subscriptions")
    platform = models.CharField(max_length=16, choices=PlatformChoices.choices)
    address = models.CharField(
        max_length=64, help_text="Telegram chat id, phone in E.164 (WhatsApp, Viber) or Viber user id."
    )
    # Set only through campaigns.services, which writes the ConsentEvent in the same
    # transaction; on PostgreSQL a deferred trigger refuses an opt-in without one.
    status = models.CharField(max_length=16, choices=Status.choices, editable=False)
    saved_our_number = models.BooleanField(
        default=False, help_text="WhatsApp: the person saved our number. Only the Business app's broadcast lists need it; "
        "Tact sends through the Cloud API, one to one, which does not."
    )
    last_inbound_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When the person last wrote to us (WhatsApp: free text only within 24 hours of it).",
    )
    # After erasure: a keyed hash (HMAC-SHA256) of platform and address, so that the consent
    # trail can be matched to an address someone presents, without storing the address.
    address_hash = models.CharField(max_length=64, blank=True, default="", editable=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "address"], name="subscription_address_unique"),
            models.UniqueConstraint(fields=["subscriber", "platform"], name="subscription_one_per_platform"),
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
        OPT_IN = "opt_in", "opt-in"
        OPT_OUT = "opt_out", "opt-out (consent withdrawn)"
        SUPPRESSION = "suppress", "suppression (delivery bounce, not a withdrawal of consent)"
        ERASED = "erased", "erased (the person's data was removed on request)"

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="consent_events")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # The status the event moved the subscription to (opt-outs: opted_out, blocked, unreachable).
    status = models.CharField(max_length=16, choices=Subscription.Status.choices)
    source = models.CharField(max_length=100, help_text="import, api, admin, telegram_start, ...")
    text = models.TextField(blank=True, default="", help_text="The wording the person was shown.")
    evidence = models.JSONField(default=dict, blank=True)
    by_person = models.BooleanField(
        default=False,
        help_text="The person acted themselves (a command, a button, a platform setting), "
        "not the brand on their behalf (import, API, admin).",
    )
    at = models.DateTimeField(help_text="When the person gave or withdrew consent.")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["subscription", "-id"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.subscription} via {self.source} at {self.at:%Y-%m-%d %H:%M}"


class Segment(models.Model):
    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", "dynamic (rules)"
        STATIC = "static", "static (members)"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.DYNAMIC)
    rules = models.JSONField(
        default=dict,
        blank=True,
        help_text='e.g. {"tags_all": ["vip"], "tags_any": [], "platforms": ["telegram"], '
        '"attributes": {"city": "Moscow"}}',
    )
    members = models.ManyToManyField(Subscriber, blank=True, related_name="static_segments")
    max_size = models.PositiveIntegerField(
        null=True, blank=True, help_text="Campaigns refuse this segment while it has more people (VIP groups)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Draft(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="The first line is what a push notification shows.")
    buttons = models.JSONField(default=list, blank=True, help_text='[{"text": "Shop", "url": "https://..."}]')
    whatsapp_template = models.JSONField(
        null=True,
        blank=True,
        help_text='Approved template for people outside WhatsApp\'s 24-hour window: '
        '{"name": "black_friday", "language": "ru", "parameters": ["-30%"]}',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        SCHEDULED = "scheduled"
        RUNNING = "running"
        PAUSED = "paused"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        AWAITING_APPROVAL = "awaiting_approval", "awaiting approval"

    name = models.CharField(max_length=200)
    draft = models.ForeignKey(Draft, on_delete=models.PROTECT, related_name="campaigns")
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="campaigns")
    platforms = models.JSONField(default=list, help_text="Any of telegram, whatsapp, viber.")
    send_at = models.DateTimeField()
    local_time = models.BooleanField(
        default=False, help_text="Use send_at's wall-clock time in each subscriber's own time zone."
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Messages not sent by then are skipped."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, editable=False)
    # Maker-checker (TACT_REQUIRE_APPROVAL): who asked for scheduling, and who approved it.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", editable=False)
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The campaign's counts, kept when the retention purge removes its ledger rows.
    stats_archive = models.JSONField(null=True, blank=True, editable=False)
    # The content as it was when scheduled: later edits of the draft do not change it.
    content_title = models.CharField(max_length=200, blank=True, default="", editable=False)
    content_body = models.TextField(blank=True, default="", editable=False)
    content_buttons = models.JSONField(default=list, blank=True, editable=False)
    content_whatsapp_template = models.JSONField(null=True, blank=True, editable=False)
    scheduled_at = models.DateTimeField(null=True, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)
    planned_at = models.DateTimeField(null=True, blank=True, editable=False)
    paused_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why sending cannot progress now (a platform refuses our account, the segment grew
    # over its max_size); empty when all is well.
    problem = models.TextField(blank=True, default="", editable=False)
    problem_since = models.DateTimeField(null=True, blank=True, editable=False)
    # Local-time campaigns are planned zone by zone near each zone's send time: the people
    # whose wall-clock send time is up to `planned_through` have rows; the next pass is due
    # at `next_plan_at`. `planned_at` is set when the last zone is planned.
    planned_through = models.DateTimeField(null=True, blank=True, editable=False)
    next_plan_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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
            )
        ]

    def __str__(self) -> str:
        return self.name


class SendList(models.Model):
    """A platform list of a campaign: at most the platform's list size, sent by one task."""

    class State(models.TextChoices):
        WAITING = "waiting", "waiting for its time"
        QUEUED = "queued", "queued or sending"
        DONE = "done"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="send_lists")
    platform = models.CharField(max_length=16, choices=PlatformChoices.choices)
    number = models.PositiveIntegerField(help_text="1, 2, ... within the campaign.")
    size = models.PositiveIntegerField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.WAITING)
    next_due = models.DateTimeField(null=True, blank=True, help_text="When its next row may be sent.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of its task.")

    class Meta:
        ordering = ["campaign_id", "number"]
        constraints = [models.UniqueConstraint(fields=["campaign", "number"], name="send_list_number_unique")]
        indexes = [models.Index(fields=["state", "next_due"])]

    def __str__(self) -> str:
        return f"{self.campaign} list {self.number} ({self.platform}, {self.size})"


class Delivery(models.Model):
    """The ledger: one row per campaign and person, moved through explicit states."""

    class Status(models.TextChoices):
        PLANNED = "planned"
        SENDING = "sending"
        SENT = "sent"
        DELIVERED = "delivered"
        READ = "read"
        FAILED = "failed"
        HELD = "held"
        SKIPPED = "skipped"
        UNCERTAIN = "uncertain"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    platform = models.CharField(max_length=16, choices=PlatformChoices.choices)
    send_list = models.ForeignKey(SendList, on_delete=models.CASCADE, related_name="deliveries", null=True)
    list_number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLANNED)
    reason = models.TextField(blank=True, default="")
    send_after = models.DateTimeField(help_text="Not before this time (local time and quiet hours applied).")
    attempts = models.PositiveSmallIntegerField(default=0)
    platform_message_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign_id", "list_number", "id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "subscriber"], name="delivery_once_per_person"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "list_number"]),
            models.Index(fields=["send_list", "status", "send_after"]),
            models.Index(fields=["subscriber", "sent_at"]),
            models.Index(fields=["subscription", "status"]),
            models.Index(fields=["platform", "platform_message_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} -> {self.subscriber} ({self.status})"


class FrequencyPolicy(models.Model):
    """The one policy for all campaigns and platforms (a single row, edited in the admin)."""

    max_per_day = models.PositiveSmallIntegerField(
        null=True, blank=True, default=1, validators=[MinValueValidator(1)], help_text="Per calendar day in the subscriber's zone; empty: no cap."
    )
    max_per_week = models.PositiveSmallIntegerField(
        null=True, blank=True, default=3, validators=[MinValueValidator(1)], help_text="Per rolling 7 days; empty: no cap."
    )
    quiet_start = models.TimeField(default=time(21, 0), help_text="Local time when quiet hours begin.")
    quiet_end = models.TimeField(default=time(9, 0), help_text="Local time when quiet hours end.")
    updated_at = models.DateTimeField(auto_now=True)

    SINGLETON_ID: ClassVar[int] = 1

    class Meta:
        verbose_name = "frequency policy and quiet hours"
        verbose_name_plural = "frequency policy and quiet hours"
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
        policy, _ = cls.objects.get_or_create(pk=cls.SINGLETON_ID)
        return policy

    def as_rule(self) -> rules.FrequencyPolicy:
        return rules.FrequencyPolicy(max_per_day=self.max_per_day, max_per_week=self.max_per_week)

    def quiet_hours(self) -> rules.QuietHours | None:
        if self.quiet_start == self.quiet_end:
            return None
        return rules.QuietHours(self.quiet_start, self.quiet_end)


class ImportJob(models.Model):
    """A CSV import run in the background: its progress and the rows it refused."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    file_name = models.CharField(max_length=255, blank=True, default="")
    # The uploaded bytes, removed once the import is done (they hold personal data).
    data = models.BinaryField(null=True, blank=True, editable=False)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text='[{"line": 7, "error": "..."}]')
    problem = models.TextField(blank=True, default="", help_text="Why the whole file failed, if it did.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.file_name or 'CSV'}, {self.state})"


class InstallationSettings(models.Model):
    """Settings an operator changes in the admin (a single row), over the environment's defaults."""

    default_phone_region = models.CharField(
        max_length=2, blank=True, default="",
        help_text="Region for phones written without a country code, e.g. RU reads 8 916 123-45-67 as +7 916 "
        "123-45-67. Empty: TACT_DEFAULT_PHONE_REGION, else such numbers are refused.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    SINGLETON_ID: ClassVar[int] = 1

    class Meta:
        verbose_name = "installation settings"
        verbose_name_plural = "installation settings"

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

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tact_profile")
    timezone = models.CharField(max_length=64, blank=True, default="", help_text="IANA name, e.g. Asia/Vladivostok.")
    language = models.CharField(max_length=8, blank=True, default="", help_text="en or ru; empty: the browser's.")

    def __str__(self) -> str:
        return f"profile of {self.user}"
