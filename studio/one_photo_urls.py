"""The one-photo studio profile's pages (under /studio/one-photo/, in the `studio` namespace)."""

from django.urls import path

from studio import one_photo_views as views

urlpatterns = [
    path("", views.one_photo_list, name="one_photo_list"),
    path("new/", views.one_photo_new, name="one_photo_new"),
    path("<uuid:profile_id>/", views.one_photo_detail, name="one_photo"),
    path("<uuid:profile_id>/image/", views.one_photo_image, name="one_photo_image"),
    path("<uuid:profile_id>/thumb/", views.one_photo_thumb, name="one_photo_thumb"),
    path("<uuid:profile_id>/photo/", views.one_photo_photo, name="one_photo_photo"),
    path("<uuid:profile_id>/again/", views.one_photo_again, name="one_photo_again"),
    path("<uuid:profile_id>/favourite/", views.one_photo_favourite, name="one_photo_favourite"),
    path("<uuid:profile_id>/delete/", views.one_photo_delete, name="one_photo_delete"),
]
