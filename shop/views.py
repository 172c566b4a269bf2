from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from shop import selectors, services
from shop.forms import ProductFilterForm
from shop.links import read_token

PAGE_SIZE = 24


def product_list(request):
    form = ProductFilterForm(request.GET)
    valid = form.is_valid()
    filters = form.cleaned_data if valid else {}
    products = (
        selectors.product_list(
            category=filters.get("category") or None,
            query=filters.get("q") or None,
            ordering=filters.get("ordering") or "relevance",
        )
        if valid
        else selectors.products_visible().none()
    )
    context = {
        "page": Paginator(products, PAGE_SIZE).get_page(request.GET.get("page")),
        "form": form,
        "categories": selectors.categories(),
        "category": filters.get("category", ""),
        "query": filters.get("q", ""),
        "ordering": filters.get("ordering", "relevance"),
        "title_key": "all",
        "query_prefix": _filters_prefix(request) if valid else "",
    }
    return render(request, "shop/list.html", context, status=200 if valid else 400)


def _filters_prefix(request) -> str:
    """The current filters as a query-string prefix for the pager links (page itself dropped)."""
    params = request.GET.copy()
    params.pop("page", None)
    return f"{params.urlencode()}&" if params else ""


def recommended(request):
    page = Paginator(selectors.products_most_recommended(), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "categories": selectors.categories(), "title_key": "recommended"}
    return render(request, "shop/list.html", context)


def popular(request):
    """The old address of "Most recommended" (it listed recommendations, never popularity)."""
    return redirect("shop:recommended", permanent=True)


def deals(request):
    page = Paginator(selectors.deals_today(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "shop/list.html", {"page": page, "categories": selectors.categories(), "title_key": "deals"})


def product_detail(request, product_id: int):
    product = selectors.product_get(product_id=product_id)
    if product is None:
        raise Http404(_("No such product."))
    makeovers = selectors.product_makeovers(product=product, owner=request.user)
    return render(request, "shop/detail.html", {"product": product, "makeovers": makeovers})


@never_cache
def go(request, token: str):
    ids = read_token(token)
    if ids is None:
        raise Http404(_("No such offer."))
    link = services.offer_click(offer_id=ids[0], recommendation_id=ids[1])
    if link is None:
        raise Http404(_("No such offer."))
    return HttpResponseRedirect(link)
