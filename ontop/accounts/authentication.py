"""`Authorization: Token <key>` against per-device tokens stored as hashes (see ApiToken)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from ontop.accounts.selectors import api_token_by_key
from ontop.accounts.services import api_token_mark_used


class ApiTokenAuthentication(TokenAuthentication):
    """DRF's token header and errors, with ApiToken rows looked up by the key's hash.

    `request.auth` is the ApiToken, so a view knows which of the person's clients is calling.
    drf-spectacular documents it as `tokenAuth` (its extension matches TokenAuthentication's subclasses).
    """

    keyword = "Token"

    def authenticate_credentials(self, key: str):
        token = api_token_by_key(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        api_token_mark_used(token=token)
        return (token.user, token)
