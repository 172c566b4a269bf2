from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """OnTop's user. Custom from day one so fields can be added without a painful migration."""

    email = models.EmailField(_("email address"), unique=True)
    preferred_language = models.CharField(_("preferred language"), max_length=8, blank=True)

    REQUIRED_FIELDS = ["email"]
