"""Support staff see that an entry exists and how its pictures went, never what the person wrote."""

from django.contrib import admin

from diary import services
from diary.models import DiaryEntry, DiaryPicture


class DiaryPictureInline(admin.TabularInline):
    model = DiaryPicture
    fields = ("job", "job_status", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="status")
    def job_status(self, picture):
        return picture.job.status

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DiaryEntry)
class DiaryEntryAdmin(admin.ModelAdmin):
    # The text is private: it is neither listed, searchable nor shown.
    list_display = ("entry_date", "owner", "mood", "style", "created_at")
    list_filter = ("mood", "style")
    search_fields = ("owner__username",)
    fields = ("owner", "entry_date", "mood", "style", "orientation", "created_at", "updated_at")
    readonly_fields = fields
    inlines = [DiaryPictureInline]
    list_select_related = ("owner", "style")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.diary_entry_delete(entry=obj)  # the pictures' files go too

    def delete_queryset(self, request, queryset):
        for entry in queryset:
            services.diary_entry_delete(entry=entry)
