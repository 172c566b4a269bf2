import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

USERNAME_TAKEN = _("This username is taken.")


class CaseInsensitiveUserManager(UserManager):
    """Logging in finds "Mina" when she types "mina": usernames are unique whatever their letter case
    (the database's `user_username_ci_unique`), so at most one account matches."""

    def get_by_natural_key(self, username):
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


class User(AbstractUser):
    """OnTop's user. Custom from day one so fields can be added without a painful migration."""

    email = models.EmailField(_("email address"), unique=True)
    preferred_language = models.CharField(_("preferred language"), max_length=8, blank=True)

    objects = CaseInsensitiveUserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            # "racer2" and "RACER2" are one name: two sign-ups racing for it make one account.
            models.UniqueConstraint(
                Lower("username"), name="user_username_ci_unique", violation_error_message=USERNAME_TAKEN
            ),
        ]


class ApiToken(models.Model):
    """One API client's sign-in (a phone, a script), sent as `Authorization: Token <key>`.

    Only a SHA-256 of the key is stored: a copy of the database signs nobody in. The key is
    40 random hex characters, so a fast hash is enough (nothing to brute-force, unlike a password).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    device_name = models.CharField(_("device name"), max_length=100)
    created = models.DateTimeField(_("created"), auto_now_add=True)
    last_used = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.user} · {self.device_name}"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()
