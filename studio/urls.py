from django.urls import include, path

from studio import views

app_name = "studio"

urlpatterns = [
    path("", views.library, name="library"),
    path("new/", views.subject_new, name="new"),
    path("subjects/<uuid:subject_id>/", views.subject, name="subject"),
    path("subjects/<uuid:subject_id>/edit/", views.subject_edit, name="subject_edit"),
    path("subjects/<uuid:subject_id>/photos/", views.photos_add, name="photos_add"),
    path("subjects/<uuid:subject_id>/recheck/", views.photos_recheck, name="photos_recheck"),
    path("subjects/<uuid:subject_id>/train/", views.train, name="train"),
    path("subjects/<uuid:subject_id>/delete/", views.subject_delete, name="subject_delete"),
    path("photos/<uuid:photo_id>/image/", views.photo_image, name="photo_image"),
    path("photos/<uuid:photo_id>/delete/", views.photo_delete, name="photo_delete"),
    path("models/<uuid:model_id>/", views.model_detail, name="model"),
    path("models/<uuid:model_id>/rename/", views.model_rename, name="model_rename"),
    path("models/<uuid:model_id>/delete/", views.model_delete, name="model_delete"),
    path("models/<uuid:model_id>/previews/<int:index>/", views.model_preview, name="model_preview"),
    path("subjects/<uuid:subject_id>/packs/new/", views.pack_new, name="pack_new"),
    path("packs/<uuid:pack_id>/", views.pack, name="pack"),
    path("packs/<uuid:pack_id>/state/", views.pack_state, name="pack_state"),
    path("packs/<uuid:pack_id>/more/", views.pack_more, name="pack_more"),
    path("packs/<uuid:pack_id>/cancel/", views.pack_cancel, name="pack_cancel"),
    path("packs/<uuid:pack_id>/delete/", views.pack_delete, name="pack_delete"),
    path("packs/<uuid:pack_id>/zip/", views.pack_zip, name="pack_zip"),
    path("portraits/<uuid:portrait_id>/image/", views.portrait_image, name="portrait_image"),
    path("portraits/<uuid:portrait_id>/favourite/", views.portrait_favourite, name="portrait_favourite"),
    path("portraits/<uuid:portrait_id>/delete/", views.portrait_delete, name="portrait_delete"),
    path("concepts/<slug:slug>/preview/", views.concept_preview, name="concept_preview"),
]

# The one-photo studio profile has its own module (no subject, no training).
urlpatterns += [path("one-photo/", include("studio.one_photo_urls"))]
