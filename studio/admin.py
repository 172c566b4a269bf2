"""Support staff see that a subject exists and how its checks and trainings went: never a photo,
a preview or a model file. Deleting here deletes every file too (services.subject_delete)."""

from django.contrib import admin

from studio import services
from studio.models import PersonalModel, Subject, SubjectPhoto, Training


class SubjectPhotoInline(admin.TabularInline):
    model = SubjectPhoto
    # Metadata only: no image, no storage key.
    fields = ("id", "verdict", "rejection", "sharpness", "face_px", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class TrainingInline(admin.TabularInline):
    model = Training
    fields = ("job", "job_status", "photos_count", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="status")
    def job_status(self, training):
        return training.job.status

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "kind", "created_at", "last_used_at", "consent_at")
    list_filter = ("kind",)
    search_fields = ("owner__username",)
    # The name a person gave (often a real name) is theirs: not listed, searched or shown.
    fields = ("owner", "kind", "keep_photos", "consent_at", "created_at", "last_used_at")
    readonly_fields = fields
    inlines = [SubjectPhotoInline, TrainingInline]
    list_select_related = ("owner",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.subject_delete(subject=obj)

    def delete_queryset(self, request, queryset):
        for subject in queryset:
            services.subject_delete(subject=subject)


@admin.register(PersonalModel)
class PersonalModelAdmin(admin.ModelAdmin):
    list_display = ("id", "subject", "created_at", "last_used_at")
    fields = ("subject", "training", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.personal_model_delete(model=obj)

    def delete_queryset(self, request, queryset):
        for model in queryset:
            services.personal_model_delete(model=model)
