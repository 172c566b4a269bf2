"""The one-photo studio profile's API endpoints (under /api/, in the `api` namespace)."""

from django.urls import path

from studio import one_photo_api as api

urlpatterns = [
    path("studio/one-photo-profiles/", api.OnePhotoProfileListCreateApi.as_view(), name="studio_one_photo_profiles"),
    path("studio/one-photo-profiles/quota/", api.OnePhotoQuotaApi.as_view(), name="studio_one_photo_quota"),
    path(
        "studio/one-photo-profiles/<uuid:profile_id>/",
        api.OnePhotoProfileDetailApi.as_view(),
        name="studio_one_photo_profile",
    ),
    path(
        "studio/one-photo-profiles/<uuid:profile_id>/again/",
        api.OnePhotoProfileAgainApi.as_view(),
        name="studio_one_photo_profile_again",
    ),
    path(
        "studio/one-photo-profiles/<uuid:profile_id>/image/",
        api.OnePhotoProfileImageApi.as_view(),
        name="studio_one_photo_profile_image",
    ),
]
