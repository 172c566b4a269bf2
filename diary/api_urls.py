"""The diary's endpoints of the mobile API (included into the `api` namespace at /api/)."""

from django.urls import path

from diary import api

urlpatterns = [
    path("diary/entries/", api.EntryListCreateApi.as_view(), name="diary_entries"),
    path("diary/entries/<uuid:entry_id>/", api.EntryDetailApi.as_view(), name="diary_entry"),
    path("diary/entries/<uuid:entry_id>/repaint/", api.EntryRepaintApi.as_view(), name="diary_entry_repaint"),
    path("diary/entries/<uuid:entry_id>/cancel/", api.EntryCancelApi.as_view(), name="diary_entry_cancel"),
    path(
        "diary/pictures/<uuid:picture_id>/images/<slug:role>/",
        api.PictureImageApi.as_view(),
        name="diary_picture_image",
    ),
    path("diary/export/", api.MonthExportApi.as_view(), name="diary_export"),
    path("diary/quota/", api.DiaryQuotaApi.as_view(), name="diary_quota"),
    path("diary/moods/", api.MoodListApi.as_view(), name="diary_moods"),
]
