from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth import logout as session_logout
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from ontop.accounts.addresses import client_address
from ontop.accounts.forms import lockout_message
from ontop.accounts.models import ApiToken
from ontop.accounts.selectors import api_tokens_of
from ontop.accounts.services import (
    DEVICE_NAME_MAX_LENGTH,
    api_token_create,
    api_token_device_name,
    api_token_revoke,
    api_token_revoke_of_user,
    login_failed,
    login_lock_remaining,
    login_succeeded,
    user_create,
)
from ontop.api import ErrorOutput, InvalidOutput, StrictSerializer, error_response

User = get_user_model()

DEVICE_NAME_HELP = (
    'What this client is called in the token list, e.g. "Mina\'s phone". '
    'Default: the User-Agent header, else "API client".'
)


class SignUpInput(StrictSerializer):
    # The model's own rule (letters, digits and @.+-_), so a bad name is a 400, not a failed save.
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True)
    device_name = serializers.CharField(
        max_length=DEVICE_NAME_MAX_LENGTH, required=False, allow_blank=True, help_text=DEVICE_NAME_HELP
    )

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError(_("This username is taken."))
        return value

    def validate_email(self, value: str) -> str:
        if User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError(_("An account with this email already exists."))
        return value

    def validate(self, attrs):
        try:
            validate_password(attrs["password"], User(username=attrs["username"], email=attrs["email"]))
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class LoginInput(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True)
    device_name = serializers.CharField(
        max_length=DEVICE_NAME_MAX_LENGTH, required=False, allow_blank=True, help_text=DEVICE_NAME_HELP
    )


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`. It is shown only once.")
    id = serializers.IntegerField(help_text="This token's id in GET /api/auth/tokens/.")
    device_name = serializers.CharField()
    created = serializers.DateTimeField()


class TokenInfoOutput(serializers.Serializer):
    id = serializers.IntegerField()
    device_name = serializers.CharField()
    created = serializers.DateTimeField()
    last_used = serializers.DateTimeField(allow_null=True, help_text="Within a minute; null if never used.")
    current = serializers.SerializerMethodField(help_text="The token this request was made with.")

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_current(self, token: ApiToken) -> bool:
        current = self.context.get("current_token")
        return current is not None and current.pk == token.pk


class MeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()


class LoginLockedOutput(ErrorOutput):
    retry_after = serializers.IntegerField(
        required=False, help_text="login_locked only: seconds until this login may be tried again (as Retry-After)."
    )


INVALID = OpenApiResponse(InvalidOutput, description="invalid or parse_error: the request is malformed.")
NOT_AUTHENTICATED = OpenApiResponse(
    ErrorOutput, description="not_authenticated or authentication_failed: no token, or a revoked one."
)
LOCKED = OpenApiResponse(
    LoginLockedOutput,
    description=(
        "login_locked: too many failed logins for this username from this address, or from this address "
        "(see Retry-After); throttled: too many requests."
    ),
)


def _token_response(request, user: User, requested_name: str | None, status_code: int) -> Response:
    token, key = api_token_create(
        user=user,
        device_name=api_token_device_name(requested=requested_name, user_agent=request.META.get("HTTP_USER_AGENT", "")),
    )
    body = {"token": key, "id": token.pk, "device_name": token.device_name, "created": token.created}
    return Response(TokenOutput(body).data, status=status_code)


class SignUpApi(APIView):
    """Create an account and sign this client in."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(request=SignUpInput, responses={201: TokenOutput, 400: INVALID}, tags=["auth"])
    def post(self, request):
        data = SignUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        device_name = data.validated_data.pop("device_name", None)
        try:
            user = user_create(**data.validated_data)
        except DjangoValidationError as exc:  # lost a race for the username or email: the same 400
            raise serializers.ValidationError(exc.message_dict) from None
        return _token_response(request, user, device_name, status.HTTP_201_CREATED)


class TokenApi(APIView):
    """Exchange a username and password for a new token for this client (`Authorization: Token <key>`).

    Every login makes its own token, so signing out one phone leaves the others signed in.
    Repeated wrong passwords lock the username from this address, and many from one address
    lock that address, for a while (429 `login_locked` with Retry-After).
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "login"

    @extend_schema(
        request=LoginInput,
        responses={
            200: TokenOutput,
            400: OpenApiResponse(
                InvalidOutput,
                description="invalid_credentials: wrong username or password; invalid: the request is malformed.",
            ),
            429: LOCKED,
        },
        tags=["auth"],
    )
    def post(self, request):
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        address = client_address(request)
        if remaining := login_lock_remaining(username=username, address=address):
            response = error_response(
                "login_locked", lockout_message(remaining), status.HTTP_429_TOO_MANY_REQUESTS, retry_after=remaining
            )
            response["Retry-After"] = str(remaining)
            return response
        user = authenticate(request, username=username, password=data.validated_data["password"])
        if user is None:
            login_failed(username=username, address=address)
            return error_response("invalid_credentials", _("Wrong username or password."), status.HTTP_400_BAD_REQUEST)
        login_succeeded(username=username, address=address)
        return _token_response(request, user, data.validated_data.get("device_name"), status.HTTP_200_OK)


class LogoutApi(APIView):
    """Sign out the client making this request: its token stops working; the others stay signed in."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None, 401: NOT_AUTHENTICATED}, tags=["auth"])
    def post(self, request):
        if isinstance(request.auth, ApiToken):
            api_token_revoke(token=request.auth)
        else:  # signed in with the website's session cookie
            session_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListApi(generics.ListAPIView):
    """The clients signed in to this account, newest first; `current` marks the one asking."""

    permission_classes = [IsAuthenticated]
    serializer_class = TokenInfoOutput

    def get_queryset(self):
        return api_tokens_of(user=self.request.user)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["current_token"] = self.request.auth if isinstance(self.request.auth, ApiToken) else None
        return context

    @extend_schema(responses={200: TokenInfoOutput(many=True), 401: NOT_AUTHENTICATED}, tags=["auth"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TokenDetailApi(APIView):
    """Sign out one of your clients (your current one too, like POST /api/auth/logout/)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            204: None,
            401: NOT_AUTHENTICATED,
            404: OpenApiResponse(ErrorOutput, description="not_found: no such token of yours."),
        },
        tags=["auth"],
    )
    def delete(self, request, token_id: int):
        if not api_token_revoke_of_user(user=request.user, token_id=token_id):
            raise NotFound(_("No such token."))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeOutput, 401: NOT_AUTHENTICATED}, tags=["auth"])
    def get(self, request):
        return Response(MeOutput(request.user).data)
