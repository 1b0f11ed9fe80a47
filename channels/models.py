from django.db import models


class OutboxMessage(models.Model):
    """A message the sandbox 'sent': the platform has no credentials, so it lands here."""

    platform = models.CharField(max_length=16)
    address = models.CharField(max_length=64)
    text = models.TextField()
    buttons = models.JSONField(default=list, blank=True)
    delivery_id = models.BigIntegerField(
        unique=True, null=True, blank=True, help_text="The ledger row it was sent for (empty: a reply to a person)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "sandbox outbox message"

    def __str__(self) -> str:
        return f"{self.platform} → {self.address}"


class InboundEvent(models.Model):
    """A platform callback already handled: a repeated one changes nothing the second time."""

    platform = models.CharField(max_length=16)
    key = models.CharField(max_length=200, help_text="update_id, message id + status, message_token + event, ...")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "key"], name="inbound_event_once")]

    def __str__(self) -> str:
        return f"{self.platform} {self.key}"


class EarlyReceipt(models.Model):
    """A receipt that arrived before the worker recorded the message it is about (platforms
    call back within milliseconds); applied as soon as the message id is in the ledger."""

    platform = models.CharField(max_length=16)
    message_id = models.CharField(max_length=128)
    address = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16)
    reason = models.TextField(blank=True, default="")
    at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["platform", "message_id"])]

    def __str__(self) -> str:
        return f"{self.platform} {self.message_id} {self.status}"


class PendingUpdate(models.Model):
    """A genuine (signed) callback that could not be handled when it came: kept, so that
    the platform gets 200 without the update being lost, and handled again by the sweeper."""

    platform = models.CharField(max_length=16)
    body = models.BinaryField(help_text="The request body exactly as received.")
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    next_try_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["next_try_at"])]

    def __str__(self) -> str:
        return f"{self.platform} update received {self.received_at:%Y-%m-%d %H:%M}"
