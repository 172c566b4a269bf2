from django.urls import path

from generation import views

app_name = "generation"

urlpatterns = [
    path("new/", views.makeover_new, name="new"),
    path("<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("<uuid:job_id>/status/", views.job_status, name="job_status"),
    path("<uuid:job_id>/image/<slug:role>/", views.job_image, name="job_image"),
]
