"""The job engine's own pages, shared by every product: live status, cancel, images."""

from django.urls import path

from generation import views

app_name = "generation"

urlpatterns = [
    path("<uuid:job_id>/status/", views.job_status, name="job_status"),
    path("<uuid:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("<uuid:job_id>/image/<slug:role>/", views.job_image, name="job_image"),
    path("<uuid:job_id>/progress-preview/", views.job_progress_preview, name="job_progress_preview"),
    path("styles/<slug:slug>/preview/", views.style_preview, name="style_preview"),
    path("showcase/<int:showcase_id>/<slug:side>/", views.showcase_image, name="showcase_image"),
]
