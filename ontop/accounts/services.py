from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from ontop.accounts.addresses import lockout_address
from ontop.accounts.models import USERNAME_TAKEN, ApiToken

User = get_user_model()
logger = logging.getLogger(__name__)

DEFAULT_DEVICE_NAME = "API client"
DEVICE_NAME_MAX_LENGTH = ApiToken._meta.get_field("device_name").max_length
# last_used is written at most this often per token: a busy client must not turn every GET into a write.
TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


EMAIL_TAKEN = gettext_lazy("An account with this email already exists.")


@transaction.atomic
def user_create(*, username: str, email: str, password: str) -> User:
    """Create an account. Callers validate uniqueness and password strength first (forms/serializers),
    but two sign-ups racing for one username (in any letter case) or email both pass those checks:
    the database's unique indexes decide, and the loser gets the ValidationError a form would show
    (`{"username": [...]}` or `{"email": [...]}`), never an IntegrityError."""
    user = User(username=username, email=User.objects.normalize_email(email))
    validate_password(password, user)
    user.set_password(password)
    # Uniqueness is checked by the database itself (below), where a race cannot slip past it, and
    # reported in one wording whichever request lost.
    user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        field = _taken_field(exc)
        if field is None:
            raise
        raise ValidationError({field: [USERNAME_TAKEN if field == "username" else EMAIL_TAKEN]}) from None
    return user


def _taken_field(exc: IntegrityError) -> str | None:
    """The field whose unique index refused the row ("username", "email"), from PostgreSQL's report."""
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None) or ""
    for field in ("username", "email"):
        if field in constraint:
            return field
    return None


# ---- API tokens: one per signed-in client ---------------------------------------------------------


def api_token_device_name(*, requested: str | None, user_agent: str) -> str:
    """The name a client gave itself, else its User-Agent, else "API client" (shown in the token list)."""
    for candidate in (requested, user_agent):
        name = " ".join((candidate or "").split())
        if name:
            return name[:DEVICE_NAME_MAX_LENGTH]
    return DEFAULT_DEVICE_NAME


def api_token_create(*, user: User, device_name: str = DEFAULT_DEVICE_NAME) -> tuple[ApiToken, str]:
    """A new token for one client. The key is returned once, here; only its hash is stored."""
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(
        user=user,
        key_hash=ApiToken.hash_key(key),
        device_name=api_token_device_name(requested=device_name, user_agent=""),
    )
    return token, key


def api_token_issue(*, user: User, device_name: str = DEFAULT_DEVICE_NAME) -> str:
    """A new token's key (tests and scripts that only need to call the API)."""
    return api_token_create(user=user, device_name=device_name)[1]


def api_token_revoke(*, token: ApiToken) -> None:
    """Sign one client out (deleting twice is harmless)."""
    ApiToken.objects.filter(pk=token.pk).delete()


def api_token_revoke_of_user(*, user: User, token_id: int) -> bool:
    """Sign out one of the person's own clients; False when the id is not theirs (or already gone)."""
    deleted, _rows = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)


def api_tokens_revoke_all(*, user: User) -> int:
    """Sign every API client out, e.g. after a password change or reset."""
    deleted, _rows = ApiToken.objects.filter(user=user).delete()
    return deleted


def api_token_mark_used(*, token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used is not None and now - token.last_used < TOKEN_LAST_USED_RESOLUTION:
        return
    stale = Q(last_used__isnull=True) | Q(last_used__lt=now - TOKEN_LAST_USED_RESOLUTION)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used=now)
    token.last_used = now


# ---- login lockout ----------------------------------------------------------------------------------
#
# django-axes's model with AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]:
# failures are counted per (username, client address) and per client address. Reaching
# LOGIN_LOCKOUT_ATTEMPTS for one pair locks that username from that address only, so an attacker
# elsewhere cannot lock the person out of their own phone or browser; reaching
# LOGIN_LOCKOUT_ADDRESS_ATTEMPTS (higher: many people share an office or a mobile carrier's
# address) locks the address for every username. A lock lasts LOGIN_LOCKOUT_SECONDS from the failure
# that set it; attempts during a lock are refused without checking the password and do not extend
# it. A correct password resets only its own pair: logging in to one's own account must not wipe the
# address's count of guesses at others. Counters live in the cache (Redis) and expire on their own.


def _pair_scope(username: str, address: str) -> str:
    digest = hashlib.sha256(f"{username.strip().lower()}\n{address}".encode()).hexdigest()[:32]
    return f"pair:{digest}"


def _address_scope(address: str) -> str:
    return f"address:{address}"


def _scopes(username: str, address: str) -> list[tuple[str, int]]:
    client = lockout_address(address)
    return [
        (_pair_scope(username, client), settings.LOGIN_LOCKOUT_ATTEMPTS),
        (_address_scope(client), settings.LOGIN_LOCKOUT_ADDRESS_ATTEMPTS),
    ]


def _count(key: str, *, timeout: int) -> int:
    """Add one to a counter that lives `timeout` seconds after its last change."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1
    cache.touch(key, timeout=timeout)
    return count


def login_lock_remaining(*, username: str, address: str) -> int:
    """Seconds until this username may try again from this address; 0 when it is not locked."""
    keys = [f"login-lock:{scope}" for scope, _limit in _scopes(username, address)]
    try:
        until = [float(value) for value in cache.get_many(keys).values()]
    except Exception:  # noqa: BLE001 - a cache outage must not lock everybody out
        logger.warning("could not check login lockout (cache unavailable)")
        return 0
    remaining = max(until, default=0.0) - time.time()
    return math.ceil(remaining) if remaining > 0 else 0


def login_failed(*, username: str, address: str) -> int:
    """Count a wrong password; returns the seconds of a lock this failure set (0 when none)."""
    seconds = settings.LOGIN_LOCKOUT_SECONDS
    locked = 0
    try:
        for scope, limit in _scopes(username, address):
            if _count(f"login-failures:{scope}", timeout=seconds) >= limit:
                cache.set(f"login-lock:{scope}", time.time() + seconds, timeout=seconds)
                locked = seconds
    except Exception:  # noqa: BLE001 - counting is best effort while the cache is down
        logger.warning("could not count a failed login (cache unavailable)")
        return 0
    if locked:
        logger.warning("login locked for %s s after repeated failures from %s", locked, lockout_address(address))
    return locked


def login_succeeded(*, username: str, address: str) -> None:
    """A correct password clears its own (username, address) count and lock, nothing else."""
    scope = _scopes(username, address)[0][0]
    try:
        cache.delete_many([f"login-failures:{scope}", f"login-lock:{scope}"])
    except Exception:  # noqa: BLE001
        logger.warning("could not reset failed logins (cache unavailable)")


# ---- password reset requests ---------------------------------------------------------------------


def password_reset_request_allowed(*, email: str, address: str) -> tuple[bool, bool]:
    """Count one "forgot password" request: (the address may ask, an e-mail may go to this address).

    Per client address, PASSWORD_RESET_ADDRESS_LIMIT requests an hour (then the form says to wait);
    per e-mail address, PASSWORD_RESET_EMAIL_LIMIT messages an hour (further ones are dropped
    silently, so that nobody can flood someone's inbox or learn whether an account exists).
    """
    hour = 3600
    email_key = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    try:
        from_address = _count(f"reset-requests:{lockout_address(address)}", timeout=hour)
        if from_address > settings.PASSWORD_RESET_ADDRESS_LIMIT:
            return False, False
        to_email = _count(f"reset-emails:{email_key}", timeout=hour)
    except Exception:  # noqa: BLE001 - best effort while the cache is down
        logger.warning("could not count a password reset request (cache unavailable)")
        return True, True
    return True, to_email <= settings.PASSWORD_RESET_EMAIL_LIMIT
