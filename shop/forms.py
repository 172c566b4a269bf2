from django import forms
from django.utils.translation import gettext_lazy as _

from shop.selectors import ORDERINGS


class ProductFilterForm(forms.Form):
    """The shop list's filters. Malformed ones (a NUL character, a category that is no slug) make the
    page a 400 that says so; an unknown sort order falls back to the default, as links age."""

    q = forms.CharField(required=False, label=_("Search products"))
    category = forms.SlugField(required=False, max_length=50, label=_("Category"))
    ordering = forms.CharField(required=False, max_length=20, label=_("Sort"))

    def clean_q(self) -> str:
        return self.cleaned_data["q"][:100]

    def clean_ordering(self) -> str:
        ordering = self.cleaned_data["ordering"]
        return ordering if ordering in ORDERINGS else "relevance"
