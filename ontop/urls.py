from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from generation import api as generation_api
from generation import views as generation_views
from ontop import health
from ontop.accounts import api as accounts_api
from shop import api as shop_api

api_patterns = [
    path("auth/signup/", accounts_api.SignUpApi.as_view(), name="signup"),
    path("auth/token/", accounts_api.TokenApi.as_view(), name="token"),
    path("auth/logout/", accounts_api.LogoutApi.as_view(), name="logout"),
    path("me/", accounts_api.MeApi.as_view(), name="me"),
    path("styles/", generation_api.StyleListApi.as_view(), name="styles"),
    path("uploads/", generation_api.UploadCreateApi.as_view(), name="uploads"),
    path("quota/", generation_api.QuotaApi.as_view(), name="quota"),
    path("makeovers/", generation_api.MakeoverListCreateApi.as_view(), name="makeovers"),
    path("makeovers/<uuid:job_id>/", generation_api.MakeoverDetailApi.as_view(), name="makeover_detail"),
    path(
        "makeovers/<uuid:job_id>/variation/", generation_api.MakeoverVariationApi.as_view(), name="makeover_variation"
    ),
    path("makeovers/<uuid:job_id>/restyle/", generation_api.MakeoverRestyleApi.as_view(), name="makeover_restyle"),
    path("makeovers/<uuid:job_id>/cancel/", generation_api.MakeoverCancelApi.as_view(), name="makeover_cancel"),
    path(
        "makeovers/<uuid:job_id>/images/<slug:role>/",
        generation_api.MakeoverImageApi.as_view(),
        name="makeover_image",
    ),
    path("shop/categories/", shop_api.CategoryListApi.as_view(), name="shop_categories"),
    path("shop/products/", shop_api.ProductListApi.as_view(), name="shop_products"),
    path("shop/products/<int:product_id>/", shop_api.ProductDetailApi.as_view(), name="shop_product"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]

urlpatterns = [
    path("", generation_views.home, name="home"),
    path("accounts/", include("ontop.accounts.urls")),
    path("makeovers/", include("generation.urls")),
    path("shop/", include("shop.urls")),
    path("api/", include((api_patterns, "api"))),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz/", health.healthz, name="healthz"),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
