"""A campaign's variants in the admin: the kind and A/B settings on the form, the variants inline
(label, draft, VIP group), the results per variant, and the buttons to pick an A/B test's
winner and to give a VIP campaign one variant per VIP group."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy
from unfold.admin import TabularInline
from unfold.decorators import action, display
from unfold.forms import BaseDialogForm

from ..delivery.variants import variant_results
from ..models import Campaign, CampaignVariant
from ..services import variants as variant_service
from .common import _table
from .dates import viewer_time

K = Campaign.Kind
FIELDS = ["kind", "protect_content", "ab_test_share", "ab_wait_minutes", "ab_metric", "ab_auto"]
READONLY = ["variant_results"]
BUTTONS = ("pick_winner_button", "vip_groups_button")


def fieldsets(obj: Campaign | None) -> list[tuple[str, dict]]:
    """The kind and its settings; once saved (not a plain campaign), the results per variant."""
    sets = [(gettext("A/B test or VIP offers"), {"fields": FIELDS})]
    if obj is not None and obj.kind != K.STANDARD:
        sets.append((gettext("Results per variant"), {"fields": READONLY}))
    return sets


def clean_kind(form: forms.ModelForm, data: dict) -> None:
    """A form posted without the kind or the metric (a script, an older page) keeps what the
    campaign has: the fields are not required (VariantsAdminMixin.formfield_for_dbfield)."""
    for name in ("kind", "ab_metric"):
        if name in form.fields and not data.get(name):
            data[name] = getattr(form.instance, name, None) or Campaign._meta.get_field(name).default


class VariantFormSet(BaseInlineFormSet):
    """The variants checked together against the campaign's kind (as the form sets it)."""

    def __init__(self, data=None, *args, prefix: str | None = None, **kwargs) -> None:
        # A form posted without the variants (a script, a page that did not show them) leaves
        # them as they are, instead of being refused for a missing management form.
        total = f"{prefix or self.get_default_prefix()}-TOTAL_FORMS"
        if data is not None and total not in data:
            data = data.copy()
            data[total], data[total.replace("TOTAL", "INITIAL")] = "0", "0"
        super().__init__(data, *args, prefix=prefix, **kwargs)

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept = [form.cleaned_data for form in self.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("draft")]
        problems = variant_service.variants_input_problems(kind=self.instance.kind, variants=[
            variant_service.VariantInput(data.get("label") or "", data["draft"], data.get("segment"))
            for data in kept])
        if problems:
            raise forms.ValidationError(problems["variants"])


class CampaignVariantInline(TabularInline):
    model = CampaignVariant
    formset = VariantFormSet
    fields = ["position", "label", "draft", "segment"]
    autocomplete_fields = ["draft", "segment"]
    extra = 0
    verbose_name = gettext_lazy("variant")
    verbose_name_plural = gettext_lazy("variants (A/B test: 2-4 drafts; VIP offers: one per VIP group)")

    def _open(self, obj: Campaign | None) -> bool:
        return obj is None or obj.status == Campaign.Status.DRAFT  # frozen once scheduled

    def has_add_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return self._open(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return self._open(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return self._open(obj) and super().has_delete_permission(request, obj)


class WinnerDialogForm(BaseDialogForm):
    variant = forms.ChoiceField(label=gettext_lazy("Winner"), help_text=gettext_lazy(
        "The rest of the audience is sent this variant at once."))

    def __init__(self, request: HttpRequest, object_id: int | str | None = None, *args, **kwargs) -> None:
        super().__init__(request, object_id, *args, **kwargs)
        campaign_id = int(object_id) if str(object_id).isdigit() else 0
        self.fields["variant"].choices = list(
            CampaignVariant.objects.filter(campaign_id=campaign_id).order_by("position", "pk").values_list("pk", "label"))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _difference(found: dict | None) -> SafeString | str:
    if not found:
        return "-"
    return format_html("{} {:+.1f} pp [{:+.1f}, {:+.1f}]{}", gettext("vs %(label)s") % {"label": found["vs_label"]},
                       100 * found["difference"], 100 * found["low"], 100 * found["high"],
                       format_html(" <strong>{}</strong>", gettext("significant")) if found["significant"] else "")


def results_html(campaign: Campaign) -> SafeString | str:
    """The results table per variant, the winner and why, and the rest of an A/B test."""
    if campaign.pk is None or campaign.kind == K.STANDARD:
        return "-"
    results = variant_results(campaign)
    headers = [gettext("variant"), gettext("VIP group"), gettext("planned"), gettext("sent"), gettext("delivered"),
               gettext("read"), gettext("clicked"), gettext("click rate"), gettext("read rate"),
               # xgettext:no-python-format
               gettext("difference, 95% interval"),
               gettext("own coupons (free of all)")]
    rows = [[format_html("<strong>{}</strong>", v["label"]) if v["id"] == results["winner"] else v["label"],
             v["segment_name"] or "-", v["planned"], v["sent"], v["delivered"], v["read"], v["clicked"],
             _percent(v["click_rate"]), _percent(v["read_rate"]), _difference(v["difference"]),
             f"{v['coupons']['free']} / {v['coupons']['total']}" if v["coupons"]["total"] else "-"]
            for v in results["variants"]]
    notes = [gettext("Rates over the messages sent; the read rate only on platforms that report reads "
                     "(WhatsApp, Viber). The difference is in percentage points with a 95% Wald interval "
                     "(p1 − p2 ± 1.96·√(p1(1−p1)/n1 + p2(1−p2)/n2)); “significant” when it leaves out 0.")]
    if campaign.kind == K.AB_TEST:
        rest = results["rest"] or {}
        if campaign.ab_winner_id is not None:
            notes.insert(0, gettext("Winner: %(label)s, picked at %(when)s. %(why)s") % {
                "label": campaign.ab_winner.label, "when": viewer_time(campaign.ab_decided_at),
                "why": results["decision"]})
        elif campaign.ab_auto and campaign.started_at and campaign.ab_wait_minutes:
            notes.insert(0, gettext("The winner is picked automatically by %(metric)s %(minutes)s minutes after the "
                                    "start; %(waiting)s people wait for it.") % {
                "metric": campaign.get_ab_metric_display(), "minutes": campaign.ab_wait_minutes,
                "waiting": rest.get("waiting", 0)})
        elif campaign.started_at:
            notes.insert(0, gettext("Pick the winner with the button above; %(waiting)s people wait for it.")
                         % {"waiting": rest.get("waiting", 0)})
        if rest.get("planned"):
            rows.append([gettext("the rest (the winner)"), "-", rest["planned"], rest["sent"], rest["delivered"],
                         rest["read"], rest["clicked"], "-", "-", "-", "-"])
    return format_html("{}{}", _table(headers, rows),
                       format_html("".join("<p class='help'>{}</p>" for _ in notes), *notes))


class VariantsAdminMixin:
    """CampaignAdmin's variants: the inline, the results section and two buttons."""

    inlines = [CampaignVariantInline]

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("kind", "ab_metric") and field is not None:
            field.required = False  # absent: unchanged (clean_kind)
        if db_field.name == "kind" and field is not None:
            field.help_text = gettext("An A/B test sends 2-4 variants to a share of the audience and the winner to "
                                      "the rest; VIP offers send each VIP group its own variant. Save, then add "
                                      "the variants below.")
        return field

    def get_inlines(self, request: HttpRequest, obj: Campaign | None):
        """The variants once the campaign is saved as an A/B test or VIP offers."""
        if obj is None or obj.kind == K.STANDARD:
            return []
        return super().get_inlines(request, obj)

    def get_actions_detail(self, request: HttpRequest, object_id: int | str):
        """Only an A/B test without a winner offers "Pick the winner"; only a VIP draft offers
        "One variant per VIP group" (the status is judged by campaign_page.BUTTONS)."""
        allowed = super().get_actions_detail(request, object_id)
        found = (Campaign.objects.filter(pk=object_id).values_list("kind", "ab_winner_id").first()
                 if str(object_id).isdigit() else None)
        kind, winner = found or (None, None)
        hidden = set()
        if kind != K.AB_TEST or winner is not None:
            hidden.add("pick_winner_button")
        if kind != K.VIP:
            hidden.add("vip_groups_button")
        return [a for a in allowed if not a.action_name.endswith(tuple(hidden))] if hidden else allowed

    def has_pick_winner_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("campaigns.schedule_campaign")

    def has_vip_groups_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("campaigns.change_campaign") and request.user.has_perm(
            "campaigns.add_campaignvariant")

    @display(description=gettext_lazy("results per variant"))
    def variant_results(self, obj: Campaign) -> SafeString | str:
        return results_html(obj)

    @action(description=gettext_lazy("Pick the winner"), icon="emoji_events", url_path="pick-winner",
            permissions=["pick_winner"],
            dialog={"title": gettext_lazy("Pick the A/B test's winner?"),
                    "description": gettext_lazy("The rest of the audience, waiting for the winner, is sent this "
                                                "variant at once; this cannot be undone."),
                    "form_class": WinnerDialogForm, "form_submit_text": gettext_lazy("Send the winner")})
    def pick_winner_button(self, request: HttpRequest, form: WinnerDialogForm, object_id: str) -> HttpResponse:
        def picked(*, campaign: Campaign, actor) -> Campaign:
            return variant_service.campaign_pick_winner(campaign=campaign, variant_id=form.cleaned_data["variant"],
                                                        actor=actor)
        return self._press(request, object_id, picked, gettext("“%(campaign)s”: the winner goes to the rest."))

    @action(description=gettext_lazy("One variant per VIP group"), icon="groups", url_path="vip-groups",
            permissions=["vip_groups"],
            dialog={"title": gettext_lazy("One variant per VIP group of the segment?"),
                    "description": gettext_lazy("The campaign's variants are replaced by one per VIP group of its "
                                                "segment, each with the campaign's draft to start from; then give "
                                                "each group its own draft and coupon codes."),
                    "form_class": None, "form_submit_text": gettext_lazy("Make the variants")})
    def vip_groups_button(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        def made(*, campaign: Campaign, actor) -> Campaign:
            found = variant_service.vip_variants_from_groups(campaign=campaign)
            self.message_user(request, gettext("“%(campaign)s”: %(n)s variants, one per VIP group.")
                              % {"campaign": campaign, "n": len(found)}, messages.SUCCESS)
            return campaign
        return self._press(request, object_id, made, None)
