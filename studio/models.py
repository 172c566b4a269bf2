"""The profile studio: a subject (a person or a pet), its photos, their checks, its trainings and
the personal models they made. Every check and training is a job of the engine, linked here."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from generation.models import GenerationJob, Upload

NAME_MAX_LENGTH = 60


class SubjectKind(models.TextChoices):
    # The codes are the contracts' SUBJECT_KINDS.
    PERSON = "person", _("Me (a person)")
    DOG = "dog", _("My dog")
    CAT = "cat", _("My cat")


class Subject(models.Model):
    """Who a personal model is of. Kept until its owner deletes it or it goes unused for
    SUBJECT_RETENTION_DAYS days (`last_used_at`: the last upload, training or use of a model)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studio_subjects")
    kind = models.CharField(_("who"), max_length=16, choices=SubjectKind.choices)
    name = models.CharField(_("name"), max_length=NAME_MAX_LENGTH)
    # Keep the photos after a training succeeded (by default they are deleted then).
    keep_photos = models.BooleanField(_("keep my photos"), default=False)
    # When the person confirmed these are photos of them or that they may use them (people only).
    consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The form's or the app's idempotency key: the same one twice is the same subject.
    submission_id = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("subject")
        verbose_name_plural = _("subjects")
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "submission_id"],
                condition=models.Q(submission_id__isnull=False),
                name="studio_subject_submission_once",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="person") | models.Q(consent_at__isnull=False),
                name="studio_person_needs_consent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} subject {self.id} of user {self.owner_id}"

    @property
    def is_pet(self) -> bool:
        return self.kind != SubjectKind.PERSON


class PhotoCheck(models.Model):
    """One `subject_photo_check` job: a batch of photos uploaded together. The job is the check."""

    job = models.OneToOneField(GenerationJob, on_delete=models.CASCADE, primary_key=True, related_name="studio_check")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="checks")
    # The smallest face the check accepted (people), from its result: the rejection message says it.
    min_face_px = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("photo check")
        verbose_name_plural = _("photo checks")

    def __str__(self) -> str:
        return f"photo check {self.job_id} of {self.subject_id}"


class SubjectPhoto(models.Model):
    """One photo of a subject: its normalised upload and the check's verdict."""

    class Verdict(models.TextChoices):
        PENDING = "pending", _("Not checked yet")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="photos")
    upload = models.OneToOneField(Upload, on_delete=models.CASCADE, related_name="studio_photo")
    # The check this photo was last sent to (None: never sent, or that check was deleted).
    photo_check = models.ForeignKey(PhotoCheck, on_delete=models.SET_NULL, null=True, blank=True, related_name="photos")
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.PENDING)
    # A PhotoRejection code ("" unless rejected); "duplicate" is decided here, across batches.
    rejection = models.CharField(max_length=32, blank=True)
    sharpness = models.FloatField(null=True, blank=True)
    phash = models.CharField(max_length=32, blank=True)
    face_px = models.PositiveIntegerField(null=True, blank=True)
    subjects_found = models.PositiveSmallIntegerField(null=True, blank=True)
    # A person's median skin colour (CIELAB after grey-world balance) for the "auto" tone: contract/tone.py.
    skin_lightness = models.FloatField(null=True, blank=True)
    skin_a = models.FloatField(null=True, blank=True)
    skin_b = models.FloatField(null=True, blank=True)
    skin_pixels = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("subject photo")
        verbose_name_plural = _("subject photos")

    def __str__(self) -> str:
        return f"photo {self.id} of {self.subject_id} ({self.verdict})"


class Training(models.Model):
    """One `subject_training` job of a subject. The job is the training; a subject keeps its history."""

    job = models.OneToOneField(
        GenerationJob, on_delete=models.CASCADE, primary_key=True, related_name="studio_training"
    )
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="trainings")
    photos_count = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("training")
        verbose_name_plural = _("trainings")

    def __str__(self) -> str:
        return f"training {self.job_id} of {self.subject_id}"


class PersonalModel(models.Model):
    """What a successful training made: its files are the training job's outputs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="personal_models")
    training = models.OneToOneField(Training, on_delete=models.CASCADE, related_name="model")
    name = models.CharField(_("name"), max_length=NAME_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(default=timezone.now)
    # What "auto" decided from the skin of the photos it was trained on ({"tone", "confidence"}),
    # kept when the photos are deleted after training. Only the decision: the skin colour readings
    # themselves go with the photos (contract/tone.py).
    auto_tone = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("personal model")
        verbose_name_plural = _("personal models")

    def __str__(self) -> str:
        return f"personal model {self.id} of {self.subject_id}"

    @property
    def job(self) -> GenerationJob:
        return self.training.job


# ---- portraits (profile studio, part 2) ------------------------------------------------------


class ToneChoice(models.TextChoices):
    # The codes are contract/tone.py's TONE_CHOICES.
    AUTO = "auto", _("Auto (from the photos)")
    WARM = "warm", _("Warm")
    COOL = "cool", _("Cool")


class Tone(models.TextChoices):
    # The codes are contract/tone.py's TONES: what a picture was really painted in.
    WARM = "warm", _("Warm")
    COOL = "cool", _("Cool")
    NEUTRAL = "neutral", _("Neutral")


class Scheduler(models.TextChoices):
    # The codes are contract/portrait.py's SCHEDULERS.
    DEFAULT = "default", _("The model's own")
    EULER = "euler", "Euler"
    EULER_A = "euler_a", "Euler a"
    DPMPP_2M_KARRAS = "dpmpp_2m_karras", "DPM++ 2M Karras"
    DPMPP_SDE_KARRAS = "dpmpp_sde_karras", "DPM++ SDE Karras"


class Pose(models.Model):
    """A pose card: OpenPose keypoints (contract/portrait.py's POSE_KEYPOINTS order, [x, y, confidence]
    in 0-1 of a frame of `aspect` = width / height). The GPU draws them into the control image at any
    size; the web draws the card from the same numbers."""

    slug = models.SlugField(unique=True)
    name_en = models.CharField(_("name (English)"), max_length=80)
    name_ko = models.CharField(_("name (Korean)"), max_length=80)
    keypoints = models.JSONField(_("keypoints"))
    aspect = models.FloatField(_("frame aspect (width / height)"), default=0.8)
    # An admin's reference photo to extract the keypoints from (the pose_extract job); optional.
    reference_photo = models.ImageField(_("reference photo"), upload_to="studio/poses/", blank=True)
    # The newest "extract the pose from the reference photo" job: its result fills the keypoints.
    extraction_job = models.ForeignKey(
        GenerationJob, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["sort_order", "slug"]
        verbose_name = _("pose")
        verbose_name_plural = _("poses")

    def __str__(self) -> str:
        return self.slug


class Concept(models.Model):
    """An admin-curated kind of portrait: what a pack paints, and with which poses and tones."""

    slug = models.SlugField(unique=True)
    name_en = models.CharField(_("name (English)"), max_length=80)
    name_ko = models.CharField(_("name (Korean)"), max_length=80)
    description_en = models.TextField(_("description (English)"), blank=True)
    description_ko = models.TextField(_("description (Korean)"), blank=True)
    preview_image = models.ImageField(_("preview image"), upload_to="studio/concepts/", blank=True)
    # Who it is for: contract SUBJECT_KINDS ("person", "dog", "cat").
    subject_kinds = ArrayField(models.CharField(max_length=16, choices=SubjectKind.choices), verbose_name=_("for"))
    prompt_template = models.CharField(
        _("prompt template"), max_length=500, help_text=_("Must contain {subject} exactly once.")
    )
    negative_prompt = models.CharField(_("negative prompt"), max_length=500, blank=True)
    # An optional style LoRA (a Style whose products include "portrait").
    style = models.ForeignKey(
        "generation.Style", on_delete=models.SET_NULL, null=True, blank=True, related_name="studio_concepts"
    )
    steps = models.PositiveSmallIntegerField(
        _("steps"), default=30, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    guidance = models.FloatField(_("CFG"), default=7.0, validators=[MinValueValidator(0.0), MaxValueValidator(30.0)])
    scheduler = models.CharField(_("scheduler"), max_length=32, choices=Scheduler.choices, default=Scheduler.DEFAULT)
    control_scale = models.FloatField(
        _("pose strength"), default=0.8, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    filter_strength = models.FloatField(
        _("filter pass strength"),
        default=0.25,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.6)],
        help_text=_("The image-to-image filter pass; 0 skips it."),
    )
    face_fix = models.BooleanField(_("fix faces"), default=True)
    hand_fix = models.BooleanField(_("fix hands"), default=False)
    # The poses people may pick (people only); none: the pose is left to the model.
    poses = models.ManyToManyField(Pose, blank=True, related_name="concepts", verbose_name=_("poses"))
    tones = ArrayField(
        models.CharField(max_length=8, choices=ToneChoice.choices),
        verbose_name=_("tones"),
        default=list,
        blank=True,
        help_text=_("The tones people may pick; none: auto, warm and cool."),
    )
    pack_size = models.PositiveSmallIntegerField(
        _("pictures in a pack"), default=4, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["sort_order", "slug"]
        verbose_name = _("concept")
        verbose_name_plural = _("concepts")

    def __str__(self) -> str:
        return self.slug


class Pack(models.Model):
    """A set of portraits of one subject in one concept. Each picture is a `portrait` job (Portrait)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studio_packs")
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="packs")
    personal_model = models.ForeignKey(PersonalModel, on_delete=models.CASCADE, related_name="packs")
    # What was picked; the jobs' params keep what each said then (editing a concept changes no pack).
    concept = models.ForeignKey(Concept, on_delete=models.SET_NULL, null=True, related_name="packs")
    pose = models.ForeignKey(Pose, on_delete=models.SET_NULL, null=True, blank=True, related_name="packs")
    tone_requested = models.CharField(_("tone"), max_length=8, choices=ToneChoice.choices, default=ToneChoice.AUTO)
    tone = models.CharField(max_length=8, choices=Tone.choices, default=Tone.NEUTRAL)
    tone_confidence = models.FloatField(null=True, blank=True)  # set when "auto" decided it
    instruction = models.TextField(_("your words"), blank=True)  # pets only
    size = models.PositiveSmallIntegerField(default=4)
    more_like = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    submission_id = models.UUIDField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("pack")
        verbose_name_plural = _("packs")
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "submission_id"],
                condition=models.Q(submission_id__isnull=False),
                name="studio_pack_submission_once",
            ),
        ]

    def __str__(self) -> str:
        return f"pack {self.id} of {self.subject_id}"


class Portrait(models.Model):
    """One picture of a pack. The job is the picture: its id is the picture's id, its files the picture's."""

    job = models.OneToOneField(
        GenerationJob, on_delete=models.CASCADE, primary_key=True, related_name="studio_portrait"
    )
    pack = models.ForeignKey(Pack, on_delete=models.CASCADE, related_name="portraits")
    index = models.PositiveSmallIntegerField()
    favourite = models.BooleanField(_("favourite"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pack", "index"]
        verbose_name = _("portrait")
        verbose_name_plural = _("portraits")

    def __str__(self) -> str:
        return f"portrait {self.job_id} ({self.index}) of {self.pack_id}"


class OnePhotoProfile(models.Model):
    """A one-photo studio profile: no training. The job is the profile; its upload is the photo."""

    job = models.OneToOneField(
        GenerationJob, on_delete=models.CASCADE, primary_key=True, related_name="studio_one_photo"
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studio_one_photos")
    tone_requested = models.CharField(_("tone"), max_length=8, choices=ToneChoice.choices, default=ToneChoice.AUTO)
    background = models.CharField(_("background"), max_length=16)
    favourite = models.BooleanField(_("favourite"), default=False)
    # When the person confirmed this is a photo of them or that they may use it.
    consent_at = models.DateTimeField(_("consent given at"))
    created_at = models.DateTimeField(auto_now_add=True)
    # The last use (made, looked at, downloaded, favourited, "another one"): retention counts from here.
    last_used_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("one-photo profile")
        verbose_name_plural = _("one-photo profiles")

    def __str__(self) -> str:
        return f"one-photo profile {self.job_id} of user {self.owner_id}"
