import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError

from generation import dispatch, media, selectors, services
from generation.handlers import handler_for, handlers
from generation.lora_validation import LoraInvalid, validate_lora
from generation.models import GenerationJob, LoraStatus, Showcase, Style, Upload
from gpu_worker.contract import desk_makeover as desk_makeover_contract
from gpu_worker.contract import lora_check as lora_check_contract

admin.site.site_header = _("OnTop administration")
admin.site.site_title = _("OnTop admin")
admin.site.index_title = _("Manage OnTop")

# How much of a worker's traceback the job page shows (its end: where it failed).
TRACEBACK_CHARS = 6000


def _product_choices() -> list[tuple[str, str]]:
    # The LoRA check is the styles' own tool, not a product that offers them.
    products = [handler for handler in handlers() if handler.kind != lora_check_contract.KIND]
    return [(handler.kind, str(handler.verbose_name)) for handler in products]


# ---- styles --------------------------------------------------------------------------------------


def lora_unchecked(style: Style) -> bool:
    """The style has a LoRA that has not passed its check against the base model: it cannot go live
    (the database's style_live_lora_checked constraint says the same)."""
    return bool(style.lora_file) and not style.lora_sha256


LIVE_WITHOUT_CHECK = _(
    "This style's LoRA has not passed its check against the base model, so the style cannot be active yet. "
    "Activate it once its LoRA shows “ready”."
)


def lora_state(style: Style) -> str:
    """Where the style's LoRA stands, in words: checking / ready / rejected: the worker's reason."""
    if not style.lora_file:
        return gettext("no LoRA")
    job = style.lora_check_job
    if style.lora_status == LoraStatus.CHECKING:
        if job is None:
            return gettext("not checked: its check was deleted; check it again")
        if job.status in (GenerationJob.Status.FAILED, GenerationJob.Status.CANCELLED):
            reason = job.error_message or job.error_code or job.status
            return gettext("check failed: %(reason)s; check it again") % {"reason": reason}
        return gettext("checking")
    if style.lora_status == LoraStatus.READY:
        return gettext("ready")
    if style.lora_status == LoraStatus.REJECTED:
        return gettext("rejected: %(reason)s") % {"reason": style.lora_message}
    return gettext("not checked against the base model")


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
            raise forms.ValidationError(_("Only .safetensors LoRA files are accepted (never pickle/.pt/.ckpt/.bin)."))
        try:
            self.lora_info = validate_lora(upload.file)
        except LoraInvalid as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload

    def clean(self):
        cleaned = super().clean()
        new_lora = hasattr(cleaned.get("lora_file"), "content_type")
        # A new file goes live only after its check (the admin sees why: save_model says so). An
        # existing one that has not passed cannot be switched on.
        if cleaned.get("is_active") and not new_lora and cleaned.get("lora_file") and not self.instance.lora_sha256:
            self.add_error("is_active", LIVE_WITHOUT_CHECK)
        return cleaned


class StyleChangeListForm(forms.ModelForm):
    """The list's "active" tick box, with the same rule as the style's own page."""

    def clean_is_active(self):
        active = self.cleaned_data.get("is_active")
        if active and lora_unchecked(self.instance):
            raise forms.ValidationError(LIVE_WITHOUT_CHECK)
        return active


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    class Media:
        # Our previews and tracebacks are styled by class: the Content-Security-Policy forbids style="".
        css = {"all": ("css/admin.css",)}

    form = StyleAdminForm
    list_display = ("slug", "name_en", "name_ko", "scopes", "lora", "lora_weight", "is_active", "ordering")
    list_editable = ("is_active", "ordering")
    list_filter = ("is_active", "lora_status")
    list_select_related = ("lora_check_job",)
    prepopulated_fields = {"slug": ("name_en",)}
    readonly_fields = ("lora", "lora_check", "lora_sha256")
    actions = ["check_lora"]
    fieldsets = (
        (
            None,
            {"fields": ("slug", "scopes", "name_en", "name_ko", "description_en", "description_ko", "preview_image")},
        ),
        (_("Prompt"), {"fields": ("trigger_words", "prompt_addition", "negative_prompt_addition")}),
        (
            _("LoRA"),
            {
                "fields": ("lora_file", "lora", "lora_check", "lora_sha256", "lora_weight"),
                "description": _(
                    "A new LoRA is loaded into the base model by a GPU worker before any job uses it; "
                    "the style stays inactive until it shows “ready”."
                ),
            },
        ),
        (_("Overrides (empty = worker defaults)"), {"fields": ("steps", "guidance", "strength")}),
        (_("Publishing"), {"fields": ("is_active", "ordering")}),
    )

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, form=StyleChangeListForm, **kwargs)

    @admin.display(description=_("LoRA"), ordering="lora_status")
    def lora(self, style: Style) -> str:
        return lora_state(style)

    @admin.display(description=_("LoRA check job"))
    def lora_check(self, style: Style) -> str:
        job = style.lora_check_job
        if job is None:
            return "-"
        url = reverse("admin:generation_generationjob_change", args=[job.pk])
        return format_html('<a href="{}">{}</a> ({})', url, job.pk, job.get_status_display())

    def save_model(self, request, obj, form, change):
        info = getattr(form, "lora_info", None)
        cleared = "lora_file" in form.changed_data and not obj.lora_file
        if change and info is None and not cleared:
            # The check may have answered since this page was opened: its fields are the database's.
            current = Style.objects.select_for_update().get(pk=obj.pk)
            obj.lora_sha256, obj.lora_status = current.lora_sha256, current.lora_status
            obj.lora_message, obj.lora_check_job_id = current.lora_message, current.lora_check_job_id
            if obj.is_active and lora_unchecked(obj):
                obj.is_active = False
                messages.warning(request, LIVE_WITHOUT_CHECK)
        if info is not None:
            obj.lora_sha256 = ""  # a new file: unusable until it passes
            if obj.is_active:
                obj.is_active = False
                messages.warning(
                    request, _("The style stays inactive until its new LoRA has passed the check; then activate it.")
                )
        if cleared:
            obj.lora_sha256 = ""
        super().save_model(request, obj, form, change)
        if info is not None:
            services.style_lora_accept(style=obj, sha256=info.sha256, by=request.user)
            messages.info(
                request,
                _(
                    "LoRA file accepted (%(tensors)s tensors, rank %(rank)s, sha256 %(sha)s…). A GPU worker is now "
                    "loading it into the base model; this page shows the answer."
                )
                % {"tensors": info.tensors, "rank": info.rank, "sha": info.sha256[:12]},
            )
        elif cleared:
            services.style_lora_accept(style=obj, sha256="")

    @admin.action(description=_("Check the LoRA against the base model again"))
    def check_lora(self, request, queryset):
        started, without = 0, []
        for style in queryset:
            try:
                services.style_lora_check_start(style=style, by=request.user)
            except services.NoLora:
                without.append(style.slug)
            else:
                started += 1
        if started:
            messages.success(request, _("Checking %(n)s LoRA(s); the list shows each answer.") % {"n": started})
        if without:
            messages.warning(request, _("No LoRA to check: %(slugs)s.") % {"slugs": ", ".join(without)})


# ---- uploads and jobs: read-only ------------------------------------------------------------------


def _pictures_html(links: list[tuple[str, str]]) -> str:
    """Inline previews, each a link to the full picture."""
    if not links:
        return "-"
    figures = format_html_join(
        "",
        '<figure class="ontop-figure">'
        '<a href="{0}"><img src="{0}?size=preview" alt="{1}" class="ontop-preview"></a>'
        "<figcaption>{1}</figcaption></figure>",
        ((url, label) for url, label in links),
    )
    return format_html("<div>{}</div>", figures)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never edited or added by hand: a changed owner would hand one person's pictures to
    another, a changed status would lie about what the GPU did."""

    class Media:
        # Our previews and tracebacks are styled by class: the Content-Security-Policy forbids style="".
        css = {"all": ("css/admin.css",)}

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Upload)
class UploadAdmin(ReadOnlyAdmin):
    """A photo is shown only where every job made from it may be shown (no face, pet or diary
    product's photo is shown to staff). Deleting goes through upload_delete: its jobs and files go too."""

    list_display = ("id", "owner", "width", "height", "created_at")
    fields = ("id", "owner", "width", "height", "created_at", "jobs", "picture")
    readonly_fields = fields
    raw_id_fields = ("owner",)

    def get_urls(self):
        view = self.admin_site.admin_view(self.picture_view)
        return [path("<path:object_id>/picture/", view, name="generation_upload_picture"), *super().get_urls()]

    @staticmethod
    def shown(upload: Upload) -> bool:
        kinds = set(upload.jobs.values_list("kind", flat=True))
        return bool(kinds) and not any(handler_for(kind, strict=False).payload_is_private for kind in kinds)

    def picture_view(self, request, object_id):
        upload = self.get_object(request, unquote(object_id))
        if upload is None or not self.has_view_permission(request, upload):
            raise PermissionDenied
        if not self.shown(upload):
            raise Http404("Not shown to staff.")
        return media.serve_upload_thumbnail(upload)

    @admin.display(description=_("jobs"))
    def jobs(self, upload: Upload) -> str:
        rows = [
            (reverse("admin:generation_generationjob_change", args=[j.pk]), f"{j.kind} ({j.get_status_display()})")
            for j in upload.jobs.all()
        ]
        return format_html_join(", ", '<a href="{}">{}</a>', rows) if rows else "-"

    @admin.display(description=_("photo"))
    def picture(self, upload: Upload) -> str:
        if not self.shown(upload):
            return gettext("Not shown: no job made from it, or a product whose photos stay with the person.")
        return _pictures_html([(reverse("admin:generation_upload_picture", args=[upload.pk]), gettext("photo"))])

    def delete_model(self, request, obj: Upload) -> None:
        services.upload_delete(upload=obj)

    def delete_queryset(self, request, queryset) -> None:
        for upload in queryset:
            services.upload_delete(upload=upload)


@admin.register(GenerationJob)
class GenerationJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "kind", "status", "style", "error_code", "created_at", "finished_at")
    list_filter = ("status", "kind", "style", "error_code")
    search_fields = ("id", "owner__username", "owner__email")
    raw_id_fields = ("owner", "upload")
    fields = (
        "id",
        "owner",
        "kind",
        "status",
        "style",
        "upload",
        "attempts",
        "submission_id",
        "created_at",
        "started_at",
        "finished_at",
        "error_code",
        "error_message",
        "worker_error",
        "pictures",
        "spec_shown",
        "result_shown",
        "rq_dashboard",
    )
    readonly_fields = fields
    actions = ["retry"]

    def get_urls(self):
        view = self.admin_site.admin_view(self.picture_view)
        return [
            path("<path:object_id>/picture/<slug:role>/", view, name="generation_generationjob_picture"),
            *super().get_urls(),
        ]

    def picture_view(self, request, object_id, role):
        job = self.get_object(request, unquote(object_id))
        if job is None or not self.has_view_permission(request, job):
            raise PermissionDenied
        if handler_for(job.kind, strict=False).payload_is_private:
            raise Http404("Not shown to staff.")
        return media.serve_job_image(job, role, size=media.requested_size(request.GET.get("size")))

    def delete_model(self, request, obj: GenerationJob) -> None:
        services.job_delete(job=obj)

    def delete_queryset(self, request, queryset) -> None:
        for job in queryset.select_related("upload"):
            services.job_delete(job=job)

    @staticmethod
    def _private(job: GenerationJob) -> bool:
        return handler_for(job.kind, strict=False).payload_is_private

    @admin.display(description=_("spec"))
    def spec_shown(self, job: GenerationJob) -> str:
        return self._payload(job, job.spec)

    @admin.display(description=_("result"))
    def result_shown(self, job: GenerationJob) -> str:
        return self._payload(job, job.result)

    def _payload(self, job: GenerationJob, payload) -> str:
        if self._private(job):
            return gettext("Hidden: it holds what the person wrote, which is theirs alone.")
        if payload is None:
            return "-"
        text = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True)
        return format_html('<pre class="ontop-pre">{}</pre>', text)

    @admin.display(description=_("pictures"))
    def pictures(self, job: GenerationJob) -> str:
        if self._private(job):
            return gettext("Hidden: this product's pictures stay with the person.")
        roles = (["input"] if job.upload_id else []) + selectors.job_output_roles(job=job)
        return _pictures_html(
            [(reverse("admin:generation_generationjob_picture", args=[job.pk, role]), role) for role in roles]
        )

    @admin.display(description=_("worker's error"))
    def worker_error(self, job: GenerationJob) -> str:
        """What the GPU worker raised (its traceback, kept by RQ for a week): the error message
        people see is a sentence; this is why it happened."""
        if job.status != GenerationJob.Status.FAILED:
            return "-"
        if self._private(job):
            return gettext("Hidden: a traceback may quote what the person wrote.")
        try:
            rq_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
            latest = rq_job.latest_result() if rq_job is not None else None
        except RedisError:
            return gettext("Redis cannot be reached: the worker's record cannot be read now.")
        detail = (latest.exc_string or "") if latest is not None else ""
        if detail:
            return format_html('<pre class="ontop-pre">{}</pre>', detail[-TRACEBACK_CHARS:])
        if rq_job is None:
            return gettext("The worker's record has expired (RQ keeps it for a week); the error above is what is left.")
        return gettext("No traceback: the worker reported the error above itself.")

    @admin.display(description=_("RQ"))
    def rq_dashboard(self, job: GenerationJob) -> str:
        return format_html('<a href="{}">{}</a>', reverse("django_rq:home"), gettext("django-rq dashboard"))

    @admin.action(description=_("Retry selected failed jobs (a new job for the same photo and settings)"))
    def retry(self, request, queryset):
        created = 0
        for job in queryset.select_related("owner", "upload", "style"):
            if self._private(job):
                messages.warning(
                    request,
                    _("Job %(job)s: %(kind)s jobs are retried from the person's own page only.")
                    % {"job": job.id, "kind": job.kind},
                )
            elif job.kind == lora_check_contract.KIND:
                created += self._check_again(request, job)
            elif job.status != GenerationJob.Status.FAILED:
                messages.warning(
                    request,
                    _("Job %(job)s is %(status)s: only failed jobs are retried.")
                    % {"job": job.id, "status": job.get_status_display()},
                )
            else:
                created += self._retry_one(request, job)
        messages.success(request, _("%(n)s job(s) queued again.") % {"n": created})

    def _retry_one(self, request, job: GenerationJob) -> int:
        try:
            services.job_retry(job=job)
        except services.JobNotRetryable:
            messages.error(
                request,
                _("Job %(job)s failed with “%(code)s”, which would only happen again: not retried. %(message)s")
                % {"job": job.id, "code": job.error_code, "message": job.error_message},
            )
            return 0
        except services.QuotaExceeded:
            message = _("No pictures left today for %(owner)s; job %(job)s not retried.")
            messages.warning(request, message % {"owner": job.owner, "job": job.id})
            return 0
        return 1

    def _check_again(self, request, job: GenerationJob) -> int:
        """A LoRA check is retried as a new check of the style's current file."""
        style = Style.objects.filter(lora_check_job=job).first()
        if style is None or not style.lora_file:
            messages.warning(
                request, _("Job %(job)s is not its style's latest LoRA check: not retried.") % {"job": job.id}
            )
            return 0
        services.style_lora_check_start(style=style, by=request.user)
        return 1


# ---- showcase --------------------------------------------------------------------------------------


class MakeoverChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, job: GenerationJob) -> str:
        style = job.style.name_en if job.style else "-"
        return f"{job.created_at:%Y-%m-%d %H:%M} · {style} · {job.owner} · {str(job.pk)[:8]}"


class ShowcaseAdminForm(forms.ModelForm):
    job = MakeoverChoiceField(
        queryset=GenerationJob.objects.none(),
        required=False,
        label=_("From a makeover"),
        help_text=_(
            "A succeeded desk makeover made by a staff account (customers' photos of their homes are never "
            "made public). Its photo and result are copied; or upload the two pictures yourself."
        ),
    )

    class Meta:
        model = Showcase
        fields = ("title_en", "title_ko", "job", "before_image", "after_image", "is_active", "ordering")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["job"].queryset = (
            GenerationJob.objects.filter(
                kind=desk_makeover_contract.KIND, status=GenerationJob.Status.SUCCEEDED, owner__is_staff=True
            )
            .select_related("owner", "style")
            .order_by("-created_at")
        )

    def clean(self):
        cleaned = super().clean()
        job = cleaned.get("job")
        new_job = job is not None and "job" in self.changed_data
        uploaded = [name for name in ("before_image", "after_image") if hasattr(cleaned.get(name), "content_type")]
        if new_job and uploaded:
            raise forms.ValidationError(_("Pick a makeover or upload the pictures, not both."))
        if new_job and (refusal := services.showcase_job_refusal(job=job)):
            self.add_error("job", SHOWCASE_REFUSALS[refusal])
        if not new_job:
            for name in ("before_image", "after_image"):
                if not cleaned.get(name):
                    self.add_error(name, _("Upload this picture, or pick a makeover to take both from."))
        return cleaned


@admin.register(Showcase)
class ShowcaseAdmin(admin.ModelAdmin):
    class Media:
        # Our previews and tracebacks are styled by class: the Content-Security-Policy forbids style="".
        css = {"all": ("css/admin.css",)}

    form = ShowcaseAdminForm
    list_display = ("title_en", "title_ko", "thumbnails", "job", "is_active", "ordering")
    list_editable = ("is_active", "ordering")
    readonly_fields = ("pictures",)

    def get_urls(self):
        view = self.admin_site.admin_view(self.picture_view)
        return [
            path("<path:object_id>/picture/<slug:side>/", view, name="generation_showcase_picture"),
            *super().get_urls(),
        ]

    def picture_view(self, request, object_id, side):
        showcase = self.get_object(request, unquote(object_id))
        if showcase is None or not self.has_view_permission(request, showcase):
            raise PermissionDenied
        field = {"before": showcase.before_image, "after": showcase.after_image}.get(side)
        if not field:
            raise Http404("No such picture.")
        return media.serve_public_image(field.name, size=media.requested_size(request.GET.get("size")))

    def _links(self, showcase: Showcase) -> list[tuple[str, str]]:
        sides = (
            ("before", showcase.before_image, gettext("before")),
            ("after", showcase.after_image, gettext("after")),
        )
        return [
            (reverse("admin:generation_showcase_picture", args=[showcase.pk, side]), label)
            for side, field, label in sides
            if field
        ]

    @admin.display(description=_("pictures"))
    def pictures(self, showcase: Showcase) -> str:
        return _pictures_html(self._links(showcase)) if showcase.pk else "-"

    @admin.display(description=_("pictures"))
    def thumbnails(self, showcase: Showcase) -> str:
        return format_html_join(" ", '<img src="{}?size=preview" alt="{}" class="ontop-thumb">', self._links(showcase))

    def save_model(self, request, obj, form, change):
        job = form.cleaned_data.get("job")
        if job is not None and "job" in form.changed_data:
            services.showcase_pictures_from_job(showcase=obj, job=job)  # the form has checked it may
        super().save_model(request, obj, form, change)

    def delete_model(self, request, obj: Showcase) -> None:
        services.showcase_delete(showcase=obj)

    def delete_queryset(self, request, queryset) -> None:
        for showcase in queryset:
            services.showcase_delete(showcase=showcase)


SHOWCASE_REFUSALS = {
    "not_a_makeover": _("Only a desk makeover can be a showcase."),
    "not_succeeded": _("Only a succeeded makeover can be a showcase."),
    "not_staff": _("Only a makeover made by a staff account can be a showcase: a customer's photo stays theirs."),
    "pictures_missing": _("This makeover's photo or result is gone; pick another one."),
}
