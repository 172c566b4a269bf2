"""Load settings early so a bad configuration is one clear line, not a traceback."""

import sys


def load_settings_or_exit() -> None:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.INSTALLED_APPS  # noqa: B018 - touching a setting imports the settings module
    except ImproperlyConfigured as exc:
        print(f"OnTop configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
