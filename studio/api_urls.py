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
    path("studio/concepts/", api.ConceptListApi.as_view(), name="studio_concepts"),
    path("studio/poses/", api.PoseListApi.as_view(), name="studio_poses"),
    path("studio/subjects/<uuid:subject_id>/packs/", api.SubjectPacksApi.as_view(), name="studio_subject_packs"),
    path("studio/packs/", api.PackListApi.as_view(), name="studio_packs"),
    path("studio/packs/<uuid:pack_id>/", api.PackDetailApi.as_view(), name="studio_pack"),
    path("studio/packs/<uuid:pack_id>/more/", api.PackMoreApi.as_view(), name="studio_pack_more"),
    path("studio/packs/<uuid:pack_id>/cancel/", api.PackCancelApi.as_view(), name="studio_pack_cancel"),
    path("studio/packs/<uuid:pack_id>/zip/", api.PackZipApi.as_view(), name="studio_pack_zip"),
    path("studio/portraits/<uuid:portrait_id>/", api.PortraitDetailApi.as_view(), name="studio_portrait"),
    path("studio/portraits/<uuid:portrait_id>/image/", api.PortraitImageApi.as_view(), name="studio_portrait_image"),
    path("studio/portrait-quota/", api.PortraitQuotaApi.as_view(), name="studio_portrait_quota"),
]

# The one-photo studio profile's endpoints live in their own module.
urlpatterns += [path("", include("studio.one_photo_api_urls"))]
