from django.contrib import admin

from generation.models import GenerationJob, Style, Upload


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    list_display = ("slug", "name_en", "name_ko", "is_active", "ordering")
    list_editable = ("is_active", "ordering")
    prepopulated_fields = {"slug": ("name_en",)}


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "width", "height", "created_at")
    raw_id_fields = ("owner",)


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "kind", "status", "style", "created_at", "finished_at")
    list_filter = ("status", "kind", "style")
    raw_id_fields = ("owner", "upload")
    readonly_fields = ("spec", "result", "error_code", "error_message", "created_at", "finished_at")
