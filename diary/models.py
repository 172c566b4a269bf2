"""A person's diary: one entry per day, and the pictures painted from it (each one a job)."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from generation.models import GenerationJob, Style
from gpu_worker.contract.picture_diary import MAX_TEXT_CHARS


class Mood(models.TextChoices):
    # The codes are the contract's MOODS; the prompt writers on the GPU side know each of them.
    NONE = "", _("No mood")
    HAPPY = "happy", _("Happy")
    CALM = "calm", _("Calm")
    EXCITED = "excited", _("Excited")
    GRATEFUL = "grateful", _("Grateful")
    TIRED = "tired", _("Tired")
    SAD = "sad", _("Sad")
    ANGRY = "angry", _("Angry")


MOOD_EMOJI = {
    "": "",
    "happy": "😊",
    "calm": "😌",
    "excited": "🤩",
    "grateful": "🙏",
    "tired": "😪",
    "sad": "😢",
    "angry": "😠",
}


class Orientation(models.TextChoices):
    LANDSCAPE = "landscape", _("Landscape (4:3)")
    PORTRAIT = "portrait", _("Portrait (3:4)")


class DiaryEntry(models.Model):
    """What a person wrote on one day. At most one entry per person per date: a diary has one page a day."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="diary_entries")
    entry_date = models.DateField(_("date"))
    text = models.TextField(_("diary entry"), max_length=MAX_TEXT_CHARS)
    mood = models.CharField(_("mood"), max_length=16, choices=Mood.choices, blank=True, default=Mood.NONE)
    # The style of the latest painting request; a past picture keeps its own snapshot in its job.
    style = models.ForeignKey(Style, on_delete=models.SET_NULL, null=True, blank=True, related_name="diary_entries")
    orientation = models.CharField(
        _("picture shape"), max_length=16, choices=Orientation.choices, default=Orientation.LANDSCAPE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-entry_date"]
        verbose_name = _("diary entry")
        verbose_name_plural = _("diary entries")
        constraints = [models.UniqueConstraint(fields=["owner", "entry_date"], name="diary_entry_one_per_day")]

    def __str__(self) -> str:
        return f"diary entry {self.entry_date} of user {self.owner_id}"

    @property
    def mood_emoji(self) -> str:
        return MOOD_EMOJI.get(self.mood, "")


class DiaryPicture(models.Model):
    """One painting of an entry. The job is the picture: its id is the picture's id, its files the picture's."""

    job = models.OneToOneField(GenerationJob, on_delete=models.CASCADE, primary_key=True, related_name="diary_picture")
    entry = models.ForeignKey(DiaryEntry, on_delete=models.CASCADE, related_name="pictures")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("diary picture")
        verbose_name_plural = _("diary pictures")

    def __str__(self) -> str:
        return f"picture {self.job_id} of {self.entry_id}"
