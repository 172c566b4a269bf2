from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from rest_framework.authtoken.models import Token

User = get_user_model()


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
