import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from rest_framework.authtoken.models import Token

User = get_user_model()
logger = logging.getLogger(__name__)


@transaction.atomic
def user_create(*, username: str, email: str, password: str) -> "User":
    """Create an account. Callers validate uniqueness and password strength first (forms/serializers)."""
    user = User(username=username, email=User.objects.normalize_email(email))
    validate_password(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


def api_token_issue(*, user: "User") -> str:
    token, _created = Token.objects.get_or_create(user=user)
    return token.key


def api_token_revoke(*, user: "User") -> None:
    Token.objects.filter(user=user).delete()


def _lock_key(username: str) -> str:
    return f"login-failures:{username.strip().lower()}"


def login_locked(*, username: str) -> bool:
    """Too many failed logins for this account recently: refuse without checking the password."""
    from django.conf import settings
    from django.core.cache import cache

    try:
        return (cache.get(_lock_key(username)) or 0) >= settings.LOGIN_LOCKOUT_ATTEMPTS
    except Exception:  # noqa: BLE001 - a cache outage must not lock everybody out
        return False


def login_failed(*, username: str) -> None:
    from django.conf import settings
    from django.core.cache import cache

    key = _lock_key(username)
    try:
        if not cache.add(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS):
            cache.incr(key)
    except Exception:  # noqa: BLE001 - counting is best effort while the cache is down
        logger.warning("could not count a failed login (cache unavailable)")


def login_succeeded(*, username: str) -> None:
    from django.core.cache import cache

    try:
        cache.delete(_lock_key(username))
    except Exception:  # noqa: BLE001
        logger.warning("could not reset failed logins (cache unavailable)")
