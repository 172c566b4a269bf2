from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ontop.api import StrictSerializer
from shop import selectors
from shop.links import buy_url


class CategoryOutput(serializers.Serializer):
    slug = serializers.CharField()
    name_en = serializers.CharField()
    name_ko = serializers.CharField()


class OfferOutput(serializers.Serializer):
    id = serializers.IntegerField()
    mall_name = serializers.CharField()
    price = serializers.IntegerField()
    fetched_at = serializers.DateTimeField()
    buy_url = serializers.SerializerMethodField()

    def get_buy_url(self, offer) -> str:
        request = self.context.get("request")
        recommendation = self.context.get("recommendation")
        url = buy_url(offer_id=offer.pk, recommendation_id=recommendation.pk if recommendation else None)
        return request.build_absolute_uri(url) if request else url


class ProductOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    brand = serializers.CharField()
    image_url = serializers.CharField()
    category = serializers.CharField(source="category.slug")
    lowest_price = serializers.IntegerField(allow_null=True)
    recommended_count = serializers.IntegerField()
    click_count = serializers.IntegerField()


class ProductDetailOutput(ProductOutput):
    offers = OfferOutput(many=True, source="offers.all")


class ProductPagination(PageNumberPagination):
    page_size = 24
    max_page_size = 100
    page_size_query_param = "page_size"


class CategoryListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: CategoryOutput(many=True)}, tags=["shop"])
    def get(self, request):
        return Response(CategoryOutput(selectors.categories(), many=True).data)


class ProductListApi(APIView):
    permission_classes = [AllowAny]

    class Filters(StrictSerializer):
        category = serializers.SlugField(required=False, max_length=50)
        q = serializers.CharField(required=False, max_length=100)
        ordering = serializers.ChoiceField(choices=["popular", "price", "new", "deals"], required=False)
        page = serializers.IntegerField(required=False, min_value=1, max_value=10_000)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)

    @extend_schema(
        parameters=[
            OpenApiParameter("category", str),
            OpenApiParameter("q", str),
            OpenApiParameter("ordering", str, enum=["popular", "price", "new", "deals"]),
            OpenApiParameter("page", int),
        ],
        responses={200: ProductOutput(many=True)},
        tags=["shop"],
    )
    def get(self, request):
        filters = self.Filters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        ordering = filters.validated_data.get("ordering", "popular")
        if ordering == "deals":
            products = selectors.deals_today()
        else:
            products = selectors.product_list(
                category=filters.validated_data.get("category"),
                query=filters.validated_data.get("q"),
                ordering=ordering,
            )
        paginator = ProductPagination()
        page = paginator.paginate_queryset(products, request, view=self)
        return paginator.get_paginated_response(ProductOutput(page, many=True).data)


class ProductDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: ProductDetailOutput}, tags=["shop"])
    def get(self, request, product_id: int):
        product = selectors.product_detail(product_id=product_id)
        return Response(ProductDetailOutput(product, context={"request": request}).data)


class RecommendationOutput(serializers.Serializer):
    position = serializers.IntegerField()
    label = serializers.CharField()
    query_ko = serializers.CharField()
    category = serializers.CharField(source="category.slug", allow_null=True, default=None)
    placement = serializers.CharField()
    hotspot = serializers.SerializerMethodField()
    offers = serializers.SerializerMethodField()

    def get_hotspot(self, rec) -> dict | None:
        if rec.hotspot_x is None:
            return None
        return {"x": rec.hotspot_x, "y": rec.hotspot_y}

    def get_offers(self, rec) -> list[dict]:
        context = {**self.context, "recommendation": rec}
        return OfferOutput([link.offer for link in rec.visible_offers], many=True, context=context).data
