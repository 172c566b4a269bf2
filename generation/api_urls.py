"""The job engine's endpoints of the mobile API (included into the `api` namespace)."""

from django.urls import path

from generation import api

urlpatterns = [
    path("styles/", api.StyleListApi.as_view(), name="styles"),
    path("uploads/", api.UploadCreateApi.as_view(), name="uploads"),
    path("jobs/<uuid:job_id>/images/<slug:role>/", api.JobImageApi.as_view(), name="job_image"),
]
