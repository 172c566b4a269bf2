from __future__ import annotations

from django.db.models import QuerySet

from ontop.accounts.models import ApiToken, User


def api_token_by_key(*, key: str) -> ApiToken | None:
    """The token a client sent, found by the key's hash (the key itself is never stored)."""
    return ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()


def api_tokens_of(*, user: User) -> QuerySet[ApiToken]:
    """A person's signed-in API clients, newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created", "-id")
