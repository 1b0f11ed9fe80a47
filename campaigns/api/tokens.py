"""POST/DELETE /api/auth/token/: a token for a username and password, throttled; revocation."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.authtoken import serializers as authtoken
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from .auth import (
    ExpiringTokenAuthentication,
    token_expires_at,
    token_obtain,
    token_revoke,
)

_TokenAnswer = inline_serializer("AuthToken", {
    "token": serializers.CharField(),
    "expires_at": serializers.DateTimeField(allow_null=True),
})


class AuthTokenSerializer(authtoken.AuthTokenSerializer):
    # Bounded as the user model's column: a longer one was a DataError (the failed-login record).
    # DRF's name, so that the schema's component keeps its name.
    username = serializers.CharField(label="Username", write_only=True, max_length=150)
    password = serializers.CharField(label="Password", write_only=True, max_length=4096,
                                     style={"input_type": "password"}, trim_whitespace=False)


class TokenView(ObtainAuthToken):
    """POST: a token for a username and password (throttled per client address);
    DELETE: the caller revokes their own token."""

    serializer_class = AuthTokenSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    def get_authenticators(self) -> list[BaseAuthentication]:
        # POST proves who the caller is by its body; only DELETE acts for a logged-in caller.
        if getattr(self.request, "method", None) == "DELETE":
            return [ExpiringTokenAuthentication(), SessionAuthentication()]
        return []

    def get_permissions(self) -> list[BasePermission]:
        if getattr(self.request, "method", None) == "DELETE":
            return [IsAuthenticated()]
        return []

    @extend_schema(responses={
        200: _TokenAnswer,
        400: OpenApiResponse(description=gettext_lazy("wrong username or password")),
        429: OpenApiResponse(description=gettext_lazy("too many attempts from this address; see Retry-After")),
    })
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = token_obtain(user=serializer.validated_data["user"])
        expires_at = token_expires_at(token)
        return Response({"token": token.key,
                         "expires_at": serializers.DateTimeField().to_representation(expires_at) if expires_at else None})

    @extend_schema(request=None, responses={
        204: OpenApiResponse(description=gettext_lazy("the caller's token is revoked")),
        401: OpenApiResponse(description=gettext_lazy("not logged in")),
    })
    def delete(self, request: Request, *args: object, **kwargs: object) -> Response:
        token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
