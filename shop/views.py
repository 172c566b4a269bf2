from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from shop import selectors, services
from shop.links import read_token

PAGE_SIZE = 24


def product_list(request):
    category = request.GET.get("category") or None
    query = (request.GET.get("q") or "").strip()[:100] or None
    ordering = request.GET.get("ordering", "popular")
    page = Paginator(selectors.product_list(category=category, query=query, ordering=ordering), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "categories": selectors.categories(),
        "category": category,
        "query": query or "",
        "ordering": ordering,
        "title_key": "all",
        "query_prefix": _filters_prefix(request),
    }
    return render(request, "shop/list.html", context)


def _filters_prefix(request) -> str:
    """The current filters as a query-string prefix for the pager links (page itself dropped)."""
    params = request.GET.copy()
    params.pop("page", None)
    return f"{params.urlencode()}&" if params else ""


def popular(request):
    page = Paginator(selectors.products_popular(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "shop/list.html", {"page": page, "categories": selectors.categories(), "title_key": "popular"}
    )


def deals(request):
    page = Paginator(selectors.deals_today(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "shop/list.html", {"page": page, "categories": selectors.categories(), "title_key": "deals"})


def product_detail(request, product_id: int):
    product = selectors.product_detail(product_id=product_id)
    makeovers = selectors.product_makeovers(product=product, owner=request.user)
    return render(request, "shop/detail.html", {"product": product, "makeovers": makeovers})


@never_cache
def go(request, token: str):
    ids = read_token(token)
    if ids is None:
        raise Http404("No such offer.")
    link = services.offer_click(offer_id=ids[0], recommendation_id=ids[1])
    if link is None:
        raise Http404("No such offer.")
    return HttpResponseRedirect(link)
