"""The studio's endpoints of the mobile API (included into the `api` namespace at /api/)."""

from django.urls import include, path

from studio import api

urlpatterns = [
    path("studio/subjects/", api.SubjectListCreateApi.as_view(), name="studio_subjects"),
    path("studio/subjects/<uuid:subject_id>/", api.SubjectDetailApi.as_view(), name="studio_subject"),
    path("studio/subjects/<uuid:subject_id>/photos/", api.SubjectPhotosApi.as_view(), name="studio_subject_photos"),
    path("studio/subjects/<uuid:subject_id>/recheck/", api.SubjectRecheckApi.as_view(), name="studio_subject_recheck"),
    path("studio/subjects/<uuid:subject_id>/train/", api.SubjectTrainApi.as_view(), name="studio_subject_train"),
    path("studio/subjects/<uuid:subject_id>/cancel/", api.SubjectCancelApi.as_view(), name="studio_subject_cancel"),
    path("studio/photos/<uuid:photo_id>/", api.PhotoDetailApi.as_view(), name="studio_photo"),
    path("studio/photos/<uuid:photo_id>/image/", api.PhotoImageApi.as_view(), name="studio_photo_image"),
    path("studio/trainings/<uuid:training_id>/", api.TrainingDetailApi.as_view(), name="studio_training"),
    path(
        "studio/trainings/<uuid:training_id>/progress-preview/",
        api.TrainingPreviewApi.as_view(),
        name="studio_training_preview",
    ),
    path("studio/models/", api.ModelListApi.as_view(), name="studio_models"),
    path("studio/models/<uuid:model_id>/", api.ModelDetailApi.as_view(), name="studio_model"),
    path(
        "studio/models/<uuid:model_id>/previews/<int:index>/",
        api.ModelPreviewApi.as_view(),
        name="studio_model_preview",
    ),
    path("studio/quota/", api.StudioQuotaApi.as_view(), name="studio_quota"),
]

# The one-photo studio profile's endpoints live in their own module.
urlpatterns += [path("", include("studio.one_photo_api_urls"))]
