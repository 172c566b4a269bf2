import json

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from generation import services
from generation.handlers import handler_for, handlers
from generation.lora_validation import LoraInvalid, validate_lora
from generation.models import GenerationJob, Showcase, Style, Upload


def _product_choices() -> list[tuple[str, str]]:
    return [(handler.kind, str(handler.verbose_name)) for handler in handlers()]


class StyleAdminForm(forms.ModelForm):
    scopes = forms.TypedMultipleChoiceField(
        choices=_product_choices,
        widget=forms.CheckboxSelectMultiple,
        label=_("Products"),
        required=False,
        help_text=_("None ticked: every product offers this style."),
    )

    class Meta:
        model = Style
        fields = (
            "slug",
            "scopes",
            "name_en",
            "name_ko",
            "description_en",
            "description_ko",
            "preview_image",
            "trigger_words",
            "prompt_addition",
            "negative_prompt_addition",
            "lora_file",
            "lora_weight",
            "steps",
            "guidance",
            "strength",
            "is_active",
            "ordering",
        )

    def clean_lora_file(self):
        upload = self.cleaned_data.get("lora_file")
        if not upload or not hasattr(upload, "content_type"):  # unchanged, or cleared
            return upload
        if not upload.name.lower().endswith(".safetensors"):
            raise forms.ValidationError("Only .safetensors LoRA files are accepted (never pickle/.pt/.ckpt/.bin).")
        try:
            self.lora_info = validate_lora(upload.file)
        except LoraInvalid as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    form = StyleAdminForm
    list_display = ("slug", "name_en", "name_ko", "scopes", "has_lora", "lora_weight", "is_active", "ordering")
    list_editable = ("is_active", "ordering")
    prepopulated_fields = {"slug": ("name_en",)}
    readonly_fields = ("lora_sha256",)
    fieldsets = (
        (
            None,
            {"fields": ("slug", "scopes", "name_en", "name_ko", "description_en", "description_ko", "preview_image")},
        ),
        ("Prompt", {"fields": ("trigger_words", "prompt_addition", "negative_prompt_addition")}),
        ("LoRA", {"fields": ("lora_file", "lora_sha256", "lora_weight")}),
        ("Overrides (empty = worker defaults)", {"fields": ("steps", "guidance", "strength")}),
        ("Publishing", {"fields": ("is_active", "ordering")}),
    )

    @admin.display(boolean=True, description="LoRA")
    def has_lora(self, style: Style) -> bool:
        return bool(style.lora_file)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        info = getattr(form, "lora_info", None)
        if info is not None:
            services.style_lora_accept(style=obj, sha256=info.sha256)
            messages.info(
                request, f"LoRA accepted: {info.tensors} tensors, rank {info.rank}, sha256 {info.sha256[:12]}…"
            )
        elif not obj.lora_file and obj.lora_sha256:
            services.style_lora_accept(style=obj, sha256="")


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    """Metadata only: people's photos (faces, pets, homes) are not shown to staff."""

    list_display = ("id", "owner", "width", "height", "created_at")
    raw_id_fields = ("owner",)
    exclude = ("image",)
    readonly_fields = ("owner", "width", "height", "created_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "kind", "status", "style", "error_code", "created_at", "finished_at")
    list_filter = ("status", "kind", "style", "error_code")
    search_fields = ("id", "owner__username", "owner__email")
    raw_id_fields = ("owner", "upload")
    readonly_fields = (
        "spec_shown",
        "result_shown",
        "error_code",
        "error_message",
        "submission_id",
        "created_at",
        "finished_at",
        "rq_dashboard",
    )
    actions = ["retry"]

    exclude = ("spec", "result")

    # Read-only: a job's owner, kind or status changed by hand would hand one person's pictures to
    # another, or lie about what the GPU did. Deleting goes through job_delete (files, quota, cancel).
    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False

    def delete_model(self, request, obj: GenerationJob) -> None:
        services.job_delete(job=obj)

    def delete_queryset(self, request, queryset) -> None:
        for job in queryset.select_related("upload"):
            services.job_delete(job=job)

    @admin.display(description="spec")
    def spec_shown(self, job: GenerationJob) -> str:
        return self._payload(job, job.spec)

    @admin.display(description="result")
    def result_shown(self, job: GenerationJob) -> str:
        return self._payload(job, job.result)

    def _payload(self, job: GenerationJob, payload) -> str:
        if handler_for(job.kind, strict=False).payload_is_private:
            return "Hidden: it holds what the person wrote, which is theirs alone."
        return json.dumps(payload, ensure_ascii=False, indent=2)

    @admin.display(description="RQ")
    def rq_dashboard(self, job: GenerationJob) -> str:
        return format_html('<a href="{}">django-rq dashboard</a>', reverse("django_rq:home"))

    @admin.action(description="Retry selected jobs (a new job for the same photo and settings)")
    def retry(self, request, queryset):
        created = 0
        for job in queryset.select_related("owner", "upload", "style"):
            if handler_for(job.kind, strict=False).payload_is_private:
                messages.warning(request, f"{job.id}: {job.kind} jobs are retried from the person's own page only.")
                continue
            try:
                services.job_retry(job=job)
                created += 1
            except services.QuotaExceeded:
                messages.warning(request, f"{job.owner} has no makeovers left today; {job.id} not retried.")
        messages.success(request, f"{created} job(s) queued again.")


@admin.register(Showcase)
class ShowcaseAdmin(admin.ModelAdmin):
    list_display = ("title_en", "title_ko", "is_active", "ordering")
    list_editable = ("is_active", "ordering")
