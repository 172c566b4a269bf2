"""The shop's API: public (no token needed), read-only, JSON.

Offers carry their product (id, title, brand, picture), the kind of page their link opens
("product", or "search" for the curated fallback) and the counted buy link. The product list is
paginated ({count, next, previous, results}); categories are one short array.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ontop.api import ErrorOutput, InvalidOutput, StrictSerializer
from shop import selectors
from shop.links import buy_url

TAGS = ["shop"]
LINK_KINDS = ("product", "search")


def _absolute(request, url: str) -> str:
    return request.build_absolute_uri(url) if request else url


class CategoryOutput(serializers.Serializer):
    slug = serializers.CharField()
    name_en = serializers.CharField()
    name_ko = serializers.CharField()


class OfferProductOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField(help_text="The product's name, as the mall or Naver writes it.")
    brand = serializers.CharField()
    image_url = serializers.SerializerMethodField(
        help_text="The product's picture; a drawing of its category when the shop has none."
    )

    def get_image_url(self, product) -> str:
        return _absolute(self.context.get("request"), product.picture_url)


class OfferOutput(serializers.Serializer):
    id = serializers.IntegerField()
    mall_name = serializers.CharField()
    price = serializers.IntegerField(help_text="KRW")
    fetched_at = serializers.DateTimeField()
    link_kind = serializers.ChoiceField(
        choices=LINK_KINDS,
        help_text='"product": buy_url opens this item\'s own page; "search": it opens a search for it '
        "(the curated fallback), so label it as a search, not as buying this item.",
    )
    buy_url = serializers.SerializerMethodField(help_text="Open this: it counts the click, then redirects.")
    product = OfferProductOutput()

    def get_buy_url(self, offer) -> str:
        recommendation = self.context.get("recommendation")
        url = buy_url(offer_id=offer.pk, recommendation_id=recommendation.pk if recommendation else None)
        return _absolute(self.context.get("request"), url)


class ProductOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    brand = serializers.CharField()
    image_url = serializers.SerializerMethodField(
        help_text="The product's picture; a drawing of its category when the shop has none."
    )
    category = serializers.CharField(source="category.slug")
    lowest_price = serializers.IntegerField(allow_null=True, help_text="KRW, today's lowest visible offer.")
    regular_price = serializers.IntegerField(
        allow_null=True, help_text="KRW: the list price, or the highest price malls ask (Naver)."
    )
    reference_price = serializers.SerializerMethodField(
        help_text="KRW: what today's price is compared with: the higher of the 30-day average and the regular price."
    )
    discount_percent = serializers.SerializerMethodField(
        help_text="How far today's price is under the reference price, when it is a deal (5 % or more)."
    )
    recommended_count = serializers.IntegerField(help_text="How often OnTop recommended it in makeovers.")
    click_count = serializers.IntegerField(help_text='How often people pressed "Buy" on it (popularity).')

    def get_image_url(self, product) -> str:
        return _absolute(self.context.get("request"), product.picture_url)

    def get_reference_price(self, product) -> int | None:
        reference = getattr(product, "reference_price", None)
        return round(reference) if reference is not None else None

    def get_discount_percent(self, product) -> int | None:
        return selectors.discount_percent(product)


class ProductDetailOutput(ProductOutput):
    offers = OfferOutput(many=True, source="offers.all", help_text="Visible offers, cheapest first.")


class ProductPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ProductOutput(many=True)


class ProductPagination(PageNumberPagination):
    page_size = 24
    max_page_size = 100
    page_size_query_param = "page_size"


class _AnonymousIfRejected:
    """Wraps an authenticator so that a stale or wrong token makes the request anonymous instead of
    a 401: these endpoints need no token, but a valid one still counts against its owner's rate."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def authenticate(self, request):
        try:
            return self.inner.authenticate(request)
        except exceptions.AuthenticationFailed:
            return None

    def authenticate_header(self, request):
        return self.inner.authenticate_header(request)


class PublicApiView(APIView):
    permission_classes = [AllowAny]

    def get_authenticators(self):
        return [_AnonymousIfRejected(authenticator) for authenticator in super().get_authenticators()]


NOT_FOUND = OpenApiResponse(ErrorOutput, description='not_found: "No such product."')
PAGE_NOT_FOUND = OpenApiResponse(ErrorOutput, description="not_found: there is no such page.")
INVALID = OpenApiResponse(
    InvalidOutput, description="invalid: a filter is malformed (unknown field, bad ordering, NUL characters)."
)
ORDERINGS = (*selectors.ORDERINGS, "deals")


class CategoryListApi(PublicApiView):
    @extend_schema(
        responses={200: CategoryOutput(many=True)}, auth=[], tags=TAGS, description="Every category (not paged)."
    )
    def get(self, request):
        return Response(CategoryOutput(selectors.categories(), many=True).data)


class ProductFilters(StrictSerializer):
    category = serializers.SlugField(required=False, max_length=50)
    q = serializers.CharField(required=False, max_length=100)
    ordering = serializers.ChoiceField(choices=ORDERINGS, required=False)
    page = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=ProductPagination.max_page_size)


class ProductListApi(PublicApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter("category", str, description="a category slug"),
            OpenApiParameter("q", str, description="search words (Korean or English); all must match, typos tolerated"),
            OpenApiParameter(
                "ordering",
                str,
                enum=list(ORDERINGS),
                description="relevance (the default: best match with q, else most recommended), "
                "popular (most bought), recommended (most recommended by OnTop), price (cheapest first), "
                "new, deals (today's deals, biggest discount first)",
            ),
            OpenApiParameter("page", int, description="page number, from 1"),
            OpenApiParameter("page_size", int, description="products per page, at most 100 (default 24)"),
        ],
        responses={200: ProductPageOutput, 400: INVALID, 404: PAGE_NOT_FOUND},
        operation_id="shop_products_list",
        auth=[],
        tags=TAGS,
    )
    def get(self, request):
        filters = ProductFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        products = selectors.product_list(
            category=filters.validated_data.get("category"),
            query=filters.validated_data.get("q"),
            ordering=filters.validated_data.get("ordering", "relevance"),
        )
        paginator = ProductPagination()
        page = paginator.paginate_queryset(products, request, view=self)
        return paginator.get_paginated_response(ProductOutput(page, many=True, context={"request": request}).data)


class ProductDetailApi(PublicApiView):
    @extend_schema(responses={200: ProductDetailOutput, 404: NOT_FOUND}, auth=[], tags=TAGS)
    def get(self, request, product_id: int):
        product = selectors.product_get(product_id=product_id)
        if product is None:
            raise exceptions.NotFound(_("No such product."))
        return Response(ProductDetailOutput(product, context={"request": request}).data)


class HotspotOutput(serializers.Serializer):
    x = serializers.FloatField(help_text="0 (left) to 1 (right) of the result picture")
    y = serializers.FloatField(help_text="0 (top) to 1 (bottom)")


class RecommendationOutput(serializers.Serializer):
    position = serializers.IntegerField()
    label = serializers.CharField(help_text="The item's name in English.")
    query_ko = serializers.CharField()
    category = serializers.SerializerMethodField(help_text="The category slug, when the planner gave a known one.")
    placement = serializers.CharField(help_text="Where on the desk, in English.")
    label_ko = serializers.CharField(help_text="The item's name in Korean; empty for older makeovers.")
    placement_ko = serializers.CharField(help_text="Where on the desk, in Korean; empty for older makeovers.")
    hotspot = serializers.SerializerMethodField()
    offers = serializers.SerializerMethodField(help_text="The offers shown for this item, in the order shown.")

    def get_category(self, rec) -> str | None:
        return rec.category.slug if rec.category_id else None

    @extend_schema_field(HotspotOutput(allow_null=True))
    def get_hotspot(self, rec) -> dict | None:
        if rec.hotspot_x is None:
            return None
        return {"x": rec.hotspot_x, "y": rec.hotspot_y}

    @extend_schema_field(OfferOutput(many=True))
    def get_offers(self, rec) -> list[dict]:
        context = {**self.context, "recommendation": rec}
        return OfferOutput([link.offer for link in rec.visible_offers], many=True, context=context).data
