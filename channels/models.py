from django.db import models


class OutboxMessage(models.Model):
    """A message the sandbox 'sent': the platform has no credentials, so it lands here."""

    platform = models.CharField(max_length=16)
    address = models.CharField(max_length=64)
    text = models.TextField()
    buttons = models.JSONField(default=list, blank=True)
    delivery_id = models.BigIntegerField(unique=True, help_text="The ledger row it was sent for.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "sandbox outbox message"

    def __str__(self) -> str:
        return f"{self.platform} → {self.address}"
