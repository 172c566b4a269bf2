"""Every product's links in the site's header, from the registered handlers (no template edits per product)."""

from __future__ import annotations

from django.urls import reverse

from generation.handlers import handlers


def products(request) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {"product_nav": []}
    return {"product_nav": [(label, reverse(name)) for handler in handlers() for label, name in handler.nav]}
