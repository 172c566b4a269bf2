"""Support staff see that a subject exists and how its checks and trainings went: never a photo,
a preview or a model file. Deleting here deletes every file too (services.subject_delete)."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from generation.models import Style
from gpu_worker.contract import ContractError
from gpu_worker.contract.portrait import KIND as PORTRAIT_KIND
from gpu_worker.contract.portrait import SUBJECT_SLOT, check_keypoints
from studio import services
from studio.models import Concept, Pack, PersonalModel, Pose, Subject, SubjectPhoto, Training
from studio.templatetags.studio_tags import pose_svg_markup


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


# ---- portraits: concepts and poses (admin-curated), packs (metadata only) -----------------------


class ConceptAdminForm(forms.ModelForm):
    class Meta:
        model = Concept
        fields = (
            "slug",
            "name_en",
            "name_ko",
            "description_en",
            "description_ko",
            "preview_image",
            "subject_kinds",
            "prompt_template",
            "negative_prompt",
            "style",
            "steps",
            "guidance",
            "scheduler",
            "control_scale",
            "filter_strength",
            "face_fix",
            "hand_fix",
            "poses",
            "tones",
            "pack_size",
            "is_active",
            "sort_order",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A concept's style must offer portraits (a style with no scopes is every product's).
        self.fields["style"].queryset = Style.objects.filter(Q(scopes__contains=[PORTRAIT_KIND]) | Q(scopes=[]))

    def clean_prompt_template(self):
        template = self.cleaned_data["prompt_template"]
        if template.count(SUBJECT_SLOT) != 1:
            raise forms.ValidationError(
                _("The prompt template must contain %(slot)s exactly once (it has it %(count)s times).")
                % {"slot": SUBJECT_SLOT, "count": template.count(SUBJECT_SLOT)}
            )
        if "<" in template or ">" in template:
            # The person's tokens ("<s0><s1>") go into the slot; anything else in angle brackets
            # (A1111 LoRA tags) means nothing to our painter and would confuse the prompt writer.
            raise forms.ValidationError(_("The prompt template cannot contain < or >."))
        return template


@admin.register(Concept)
class ConceptAdmin(admin.ModelAdmin):
    form = ConceptAdminForm
    list_display = ("slug", "name_en", "name_ko", "subject_kinds", "pack_size", "is_active", "sort_order")
    list_editable = ("is_active", "sort_order")
    list_filter = ("is_active",)
    search_fields = ("slug", "name_en", "name_ko")
    filter_horizontal = ("poses",)
    fieldsets = (
        (None, {"fields": ("slug", "name_en", "name_ko", "description_en", "description_ko", "preview_image")}),
        (_("Who and what"), {"fields": ("subject_kinds", "prompt_template", "negative_prompt", "style")}),
        (
            _("Painting settings"),
            {"fields": ("steps", "guidance", "scheduler", "control_scale", "filter_strength", "face_fix", "hand_fix")},
        ),
        (_("Choices"), {"fields": ("poses", "tones", "pack_size", "is_active", "sort_order")}),
    )


class PoseAdminForm(forms.ModelForm):
    class Meta:
        model = Pose
        fields = ("slug", "name_en", "name_ko", "keypoints", "aspect", "reference_photo", "is_active", "sort_order")

    def clean_keypoints(self):
        keypoints = self.cleaned_data["keypoints"]
        try:
            if not isinstance(keypoints, list) or not all(isinstance(row, list) for row in keypoints):
                raise ContractError("keypoints are a list of [x, y, confidence] rows")
            check_keypoints([[float(value) for value in row] for row in keypoints])
        except (ContractError, TypeError, ValueError) as exc:
            raise forms.ValidationError(_("These keypoints are not a pose: %(why)s.") % {"why": exc}) from None
        return keypoints

    def clean_aspect(self):
        aspect = self.cleaned_data["aspect"]
        if not 0.2 <= aspect <= 5.0:
            raise forms.ValidationError(_("A pose's frame aspect is between 0.2 and 5."))
        return aspect


@admin.register(Pose)
class PoseAdmin(admin.ModelAdmin):
    form = PoseAdminForm
    list_display = ("slug", "figure", "name_en", "name_ko", "is_active", "sort_order", "extraction")
    list_editable = ("is_active", "sort_order")
    search_fields = ("slug", "name_en", "name_ko")
    readonly_fields = ("figure_large", "extraction")
    fields = (
        "slug",
        "name_en",
        "name_ko",
        "figure_large",
        "keypoints",
        "aspect",
        "reference_photo",
        "extraction",
        "is_active",
        "sort_order",
    )
    actions = ["extract_pose"]

    @admin.display(description=_("figure"))
    def figure(self, pose):
        return mark_safe(pose_svg_markup(pose.keypoints, pose.aspect, height=60, label=pose.slug))  # noqa: S308

    @admin.display(description=_("preview"))
    def figure_large(self, pose):
        if pose.pk is None:
            return "-"
        return mark_safe(pose_svg_markup(pose.keypoints, pose.aspect, height=200, label=pose.slug))  # noqa: S308

    @admin.display(description=_("extraction"))
    def extraction(self, pose):
        job = pose.extraction_job
        if job is None:
            return "-"
        return f"{job.get_status_display()} ({job.created_at:%Y-%m-%d %H:%M})"

    @admin.action(description=_("Extract the pose from the reference photo"))
    def extract_pose(self, request, queryset):
        started, missing = 0, []
        for pose in queryset:
            try:
                services.pose_extraction_start(pose=pose, by=request.user)
            except services.NoReferencePhoto:
                missing.append(pose.slug)
            else:
                started += 1
        if started:
            self.message_user(
                request,
                _("Started %(n)s pose extraction(s). The keypoints fill in when each is done.") % {"n": started},
                messages.SUCCESS,
            )
        if missing:
            self.message_user(
                request,
                _("No reference photo to extract from: %(slugs)s.") % {"slugs": ", ".join(missing)},
                messages.WARNING,
            )


@admin.register(Pack)
class PackAdmin(admin.ModelAdmin):
    """Metadata only: no pictures, no words a person wrote, no subject name."""

    list_display = ("id", "owner", "concept", "size", "tone_requested", "tone", "created_at")
    list_filter = ("concept", "tone")
    fields = ("owner", "subject", "concept", "pose", "tone_requested", "tone", "tone_confidence", "size", "created_at")
    readonly_fields = fields
    list_select_related = ("owner", "concept")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.pack_delete(pack=obj)

    def delete_queryset(self, request, queryset):
        for pack in queryset:
            services.pack_delete(pack=pack)
