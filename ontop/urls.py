from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ontop import health, metrics, views
from ontop.accounts import api as accounts_api
from ontop.events import views as events_views
from shop import api as shop_api

# One `api` namespace; each app brings its own endpoints.
api_patterns = [
    path("auth/signup/", accounts_api.SignUpApi.as_view(), name="signup"),
    path("auth/token/", accounts_api.TokenApi.as_view(), name="token"),
    path("auth/logout/", accounts_api.LogoutApi.as_view(), name="logout"),
    path("auth/tokens/", accounts_api.TokenListApi.as_view(), name="tokens"),
    path("auth/tokens/<int:token_id>/", accounts_api.TokenDetailApi.as_view(), name="token_detail"),
    path("me/", accounts_api.MeApi.as_view(), name="me"),
    path("", include("generation.api_urls")),
    # Served by the async server (ontop/asgi.py); this view documents it and answers under WSGI.
    path("jobs/<uuid:job_id>/events/", events_views.JobEventsApi.as_view(), name="job_events"),
    path("", include("makeovers.api_urls")),
    path("", include("diary.api_urls")),
    path("", include("studio.api_urls")),
    path("shop/categories/", shop_api.CategoryListApi.as_view(), name="shop_categories"),
    path("shop/products/", shop_api.ProductListApi.as_view(), name="shop_products"),
    path("shop/products/<int:product_id>/", shop_api.ProductDetailApi.as_view(), name="shop_product"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI whose start script is its own request (?script), not inline, as the CSP requires
    # (settings.CONTENT_SECURITY_POLICY); its stylesheet draws icons from data: URLs.
    path(
        "docs/",
        csp_update({"img-src": ["data:"]})(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
        name="docs",
    ),
    # Last: anything else under /api/ (a malformed id, a typo) is the API's JSON 404, not a web page.
    re_path(r"^", views.api_not_found, name="not_found"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("ontop.accounts.urls")),
    path("jobs/", include("generation.urls")),
    path("makeovers/", include("makeovers.urls")),
    path("diary/", include("diary.urls")),
    path("studio/", include("studio.urls")),
    path("shop/", include("shop.urls")),
    path("api/", include((api_patterns, "api"))),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz/", health.healthz, name="healthz"),
    # Prometheus scrapes it; only allowed addresses or the metrics token (ontop/metrics.py).
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "ontop.views.bad_request"
handler500 = "ontop.views.server_error"
