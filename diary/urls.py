from django.urls import path

from diary import views

app_name = "diary"

urlpatterns = [
    path("", views.calendar, name="calendar"),
    path("<int:year>/<int:month>/", views.calendar, name="month"),
    path("<int:year>/<int:month>/export.pdf", views.export_month, name="export"),
    path("timeline/", views.timeline, name="timeline"),
    path("new/", views.new, name="new"),
    path("<uuid:entry_id>/", views.detail, name="detail"),
    path("<uuid:entry_id>/edit/", views.edit, name="edit"),
    path("<uuid:entry_id>/repaint/", views.repaint, name="repaint"),
    path("<uuid:entry_id>/delete/", views.delete, name="delete"),
    path("<uuid:entry_id>/download/", views.download, name="download"),
]
