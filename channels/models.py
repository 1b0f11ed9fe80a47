from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """A message the sandbox 'sent': the platform has no credentials, so it lands here."""

    platform = models.CharField(max_length=16, verbose_name=_("platform"))
    address = models.CharField(max_length=64, verbose_name=_("address"))
    text = models.TextField(verbose_name=_("text"))
    buttons = models.JSONField(default=list, blank=True, verbose_name=_("buttons"))
    # What the platform would have received besides the text: {"kind", "name", ...} of the
    # media, and for WhatsApp outside the 24-hour window the template it would have sent.
    media = models.JSONField(null=True, blank=True, verbose_name=_("media"))
    template = models.JSONField(null=True, blank=True, verbose_name=_("template"))
    delivery_id = models.BigIntegerField(
        unique=True, null=True, blank=True, help_text=_("The ledger row it was sent for (empty: a reply to a person)."), verbose_name=_("delivery id")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name_plural = _("sandbox outbox messages")
        ordering = ["-id"]
        verbose_name = _("sandbox outbox message")

    def __str__(self) -> str:
        return f"{self.platform} → {self.address}"


class InboundEvent(models.Model):
    """A platform callback already handled: a repeated one changes nothing the second time."""

    platform = models.CharField(max_length=16, verbose_name=_("platform"))
    key = models.CharField(max_length=200, help_text=_("update_id, message id + status, message_token + event, ..."), verbose_name=_("key"))
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("received at"))

    class Meta:
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        constraints = [models.UniqueConstraint(fields=["platform", "key"], name="inbound_event_once")]

    def __str__(self) -> str:
        return f"{self.platform} {self.key}"


class EarlyReceipt(models.Model):
    """A receipt that arrived before the worker recorded the message it is about (platforms
    call back within milliseconds); applied as soon as the message id is in the ledger."""

    platform = models.CharField(max_length=16, verbose_name=_("platform"))
    message_id = models.CharField(max_length=128, verbose_name=_("message id"))
    address = models.CharField(max_length=64, blank=True, default="", verbose_name=_("address"))
    status = models.CharField(max_length=16, verbose_name=_("status"))
    reason = models.TextField(blank=True, default="", verbose_name=_("reason"))
    at = models.DateTimeField(verbose_name=_("at"))
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("received at"))

    class Meta:
        verbose_name = _("early receipt")
        verbose_name_plural = _("early receipts")
        indexes = [models.Index(fields=["platform", "message_id"])]

    def __str__(self) -> str:
        return f"{self.platform} {self.message_id} {self.status}"


class PendingUpdate(models.Model):
    """A genuine (signed) callback that could not be handled when it came: kept, so that
    the platform gets 200 without the update being lost, and handled again by the sweeper."""

    platform = models.CharField(max_length=16, verbose_name=_("platform"))
    body = models.BinaryField(help_text=_("The request body exactly as received."), verbose_name=_("body"))
    error = models.TextField(blank=True, default="", verbose_name=_("error"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("received at"))
    next_try_at = models.DateTimeField(verbose_name=_("next try at"))

    class Meta:
        verbose_name = _("pending update")
        verbose_name_plural = _("pending updates")
        indexes = [models.Index(fields=["next_try_at"])]

    def __str__(self) -> str:
        return f"{self.platform} update received {self.received_at:%Y-%m-%d %H:%M}"
