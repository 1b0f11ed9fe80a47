"""The API's search box over people: a phone in any format, a name in any case."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy
from rest_framework.filters import SearchFilter
from rest_framework.request import Request
from rest_framework.views import APIView

from .. import addresses, selectors


class SubscriberSearchFilter(SearchFilter):
    """`?search=` through selectors.subscribers_search; addresses only for users who may see them."""

    search_description = gettext_lazy(
        "A name (any case, any part), an external id, or, with the view_address permission, an address: "
        "a phone number in any format (+7 999 123-45-67, 8 999 1234567), a chat id or a Viber id."
    )

    def filter_queryset(self, request: Request, queryset: QuerySet, view: APIView) -> QuerySet:
        query = request.query_params.get(self.search_param, "")
        return selectors.subscribers_search(queryset, query, by_address=addresses.sees_addresses(request.user))
