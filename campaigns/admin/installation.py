"""The form of the installation settings page (registered with the admin's System pages)."""

from __future__ import annotations

from django import forms

from .. import rules
from ..models import InstallationSettings


class InstallationSettingsForm(forms.ModelForm):
    class Meta:
        model = InstallationSettings
        fields = ["default_phone_region"]

    def clean_default_phone_region(self) -> str:
        try:
            return rules.normalize_phone_region(self.cleaned_data["default_phone_region"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
