"""The makeover endpoints of the mobile API (included into the `api` namespace)."""

from django.urls import path

from makeovers import api

urlpatterns = [
    path("quota/", api.QuotaApi.as_view(), name="quota"),
    path("makeovers/", api.MakeoverListCreateApi.as_view(), name="makeovers"),
    path("makeovers/<uuid:job_id>/", api.MakeoverDetailApi.as_view(), name="makeover_detail"),
    path("makeovers/<uuid:job_id>/variation/", api.MakeoverVariationApi.as_view(), name="makeover_variation"),
    path("makeovers/<uuid:job_id>/restyle/", api.MakeoverRestyleApi.as_view(), name="makeover_restyle"),
    path("makeovers/<uuid:job_id>/cancel/", api.MakeoverCancelApi.as_view(), name="makeover_cancel"),
    path("makeovers/<uuid:job_id>/images/<slug:role>/", api.MakeoverImageApi.as_view(), name="makeover_image"),
]
