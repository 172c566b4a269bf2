"""The profile studio: a subject (a person or a pet), its photos, their checks, its trainings and
the personal models they made. Every check and training is a job of the engine, linked here."""

from __future__ import annotations

import uuid

from django.conf import settings
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

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("personal model")
        verbose_name_plural = _("personal models")

    def __str__(self) -> str:
        return f"personal model {self.id} of {self.subject_id}"

    @property
    def job(self) -> GenerationJob:
        return self.training.job
