from django.urls import path

from makeovers import views

app_name = "makeovers"

urlpatterns = [
    path("", views.history, name="history"),
    path("new/", views.new, name="new"),
    path("uploads/<uuid:upload_id>/", views.upload_image, name="upload_image"),
    path("<uuid:job_id>/", views.detail, name="detail"),
    path("<uuid:job_id>/delete/", views.delete, name="delete"),
    path("<uuid:job_id>/again/", views.again, name="again"),
]
