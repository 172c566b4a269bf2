from django.urls import path

from generation import views

app_name = "generation"

urlpatterns = [
    path("", views.history, name="history"),
    path("new/", views.makeover_new, name="new"),
    path("<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("<uuid:job_id>/status/", views.job_status, name="job_status"),
    path("<uuid:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("<uuid:job_id>/delete/", views.job_delete, name="job_delete"),
    path("<uuid:job_id>/again/", views.job_again, name="job_again"),
    path("<uuid:job_id>/image/<slug:role>/", views.job_image, name="job_image"),
    path("styles/<slug:slug>/preview/", views.style_preview, name="style_preview"),
    path("showcase/<int:showcase_id>/<slug:side>/", views.showcase_image, name="showcase_image"),
]
