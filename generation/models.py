import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class LoraStatus(models.TextChoices):
    """Where a style's LoRA stands with the base model (`lora_check` jobs)."""

    UNCHECKED = "", _("not checked")  # no LoRA, or one accepted before the check existed
    CHECKING = "checking", _("checking")
    READY = "ready", _("ready")
    REJECTED = "rejected", _("rejected")


class Style(models.Model):
    """An art style people pick. Curated by admins; `scopes` says which products (job kinds) offer it."""

    slug = models.SlugField(unique=True)
    scopes = ArrayField(
        models.CharField(max_length=32),
        verbose_name=_("products"),
        default=list,
        blank=True,
        help_text=_("The products that offer this style; none means every product."),
    )
    name_en = models.CharField(_("name (English)"), max_length=80)
    name_ko = models.CharField(_("name (Korean)"), max_length=80)
    description_en = models.TextField(_("description (English)"), blank=True)
    description_ko = models.TextField(_("description (Korean)"), blank=True)
    preview_image = models.ImageField(_("preview image"), upload_to="styles/previews/", blank=True)
    prompt_addition = models.CharField(_("prompt addition"), max_length=500, blank=True)
    negative_prompt_addition = models.CharField(_("negative prompt addition"), max_length=500, blank=True)
    trigger_words = models.CharField(_("trigger words"), max_length=200, blank=True)
    # A LoRA is optional: a style can be prompt-only. Its file is checked on upload (safetensors,
    # LoRA-shaped, finite), then loaded into the base model by a `lora_check` job on a GPU worker.
    lora_file = models.FileField(_("LoRA (.safetensors)"), upload_to="styles/loras/", blank=True)
    # The hash jobs pin the LoRA by. Set only once the file has passed its check against the base
    # model (services.style_lora_check_record): until then no job uses the file, and the style
    # cannot be active (the constraint below).
    lora_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    lora_status = models.CharField(
        _("LoRA check"), max_length=16, choices=LoraStatus.choices, default=LoraStatus.UNCHECKED, blank=True
    )
    lora_message = models.TextField(_("LoRA check message"), blank=True)  # why it was rejected (the worker's words)
    lora_check_job = models.ForeignKey(
        "GenerationJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    lora_weight = models.FloatField(
        _("LoRA weight"), default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    steps = models.PositiveSmallIntegerField(
        _("steps"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    guidance = models.FloatField(
        _("guidance"), null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(30.0)]
    )
    strength = models.FloatField(
        _("strength"), null=True, blank=True, validators=[MinValueValidator(0.05), MaxValueValidator(1.0)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    ordering = models.PositiveIntegerField(_("ordering"), default=0)

    class Meta:
        ordering = ["ordering", "slug"]
        constraints = [
            # A live style's LoRA has passed its check: a LoRA the base model cannot load never
            # reaches a job (every one of them would fail).
            models.CheckConstraint(
                condition=models.Q(is_active=False) | models.Q(lora_file="") | ~models.Q(lora_sha256=""),
                name="style_live_lora_checked",
            ),
        ]

    def __str__(self) -> str:
        return self.name_en


def _upload_key(instance: "Upload", filename: str) -> str:
    # Random names: nothing about the person or their original filename ends up in storage keys.
    return f"uploads/{instance.owner_id}/{uuid.uuid4().hex}.jpg"


class Upload(models.Model):
    """A person's photo, already normalised (EXIF orientation applied, metadata stripped)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    image = models.ImageField(upload_to=_upload_key)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"upload {self.id}"


class GenerationJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generation_jobs")
    # The photo a job starts from, for the workflows that have one (the diary starts from text).
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="jobs", null=True, blank=True)
    style = models.ForeignKey(Style, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")
    # A registered workflow's kind (generation.handlers); checked when the job is created.
    kind = models.CharField(max_length=32, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    # The exact contract payloads sent and received: editing a style never changes a past job.
    # Read them through selectors.job_params / job_result (typed), never by string keys.
    spec = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    # The client's id for this submission: the same form or API call sent twice makes one job.
    submission_id = models.UUIDField(null=True, blank=True)
    # Runs of the GPU job so far: a resumable workflow's job is enqueued again when its worker dies.
    attempts = models.PositiveSmallIntegerField(default=1)
    # When the latest attempt was queued (None: the first, queued at created_at); the sweeper's
    # deadlines count from here, not from when the job was first made.
    attempt_queued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"]), models.Index(fields=["status", "created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["owner", "submission_id"], name="job_submission_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def gpu_rq_job_id(self) -> str:
        from generation.dispatch import rq_job_ids

        return rq_job_ids(str(self.id), self.attempts)[0]

    @property
    def output_prefix(self) -> str:
        return f"results/{self.owner_id}/{self.id}/"


class Showcase(models.Model):
    """Example before/after pictures for the home page, curated by admins (public by design)."""

    title_en = models.CharField(_("title (English)"), max_length=120)
    title_ko = models.CharField(_("title (Korean)"), max_length=120)
    # Uploaded by the admin, or copied from `job` (services.showcase_pictures_from_job). Copies: a
    # public page never depends on a job's files, which go when the job is deleted.
    before_image = models.ImageField(_("before"), upload_to="showcase/", blank=True)
    after_image = models.ImageField(_("after"), upload_to="showcase/", blank=True)
    # The makeover the pictures were taken from. Only a staff member's own makeover qualifies: a
    # customer's photo of their home is never made public by an admin's choice.
    job = models.ForeignKey(
        GenerationJob,
        verbose_name=_("from makeover"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("A succeeded desk makeover made by a staff account; its photo and result are copied."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    ordering = models.PositiveIntegerField(_("ordering"), default=0)

    class Meta:
        ordering = ["ordering", "pk"]

    def __str__(self) -> str:
        return self.title_en

    @property
    def before_url(self) -> str:
        """The public "before" picture (generation:showcase_image); add ?size=preview for the page size."""
        return reverse("generation:showcase_image", args=[self.pk, "before"])

    @property
    def after_url(self) -> str:
        return reverse("generation:showcase_image", args=[self.pk, "after"])


class DeletedUsage(models.Model):
    """Pictures a person deleted on the day they were made, per product: they still count towards
    that day's quota (what was generated counts, not what still exists). Holds no content."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "kind", "day"], name="deleted_usage_once_per_day")]

    def __str__(self) -> str:
        return f"{self.owner_id} {self.kind} {self.day}: {self.count}"
