from django import template
from django.utils.translation import gettext as _

from gpu_worker.contract.subject_photo_check import MAX_PHOTOS
from gpu_worker.contract.subject_training import MIN_PHOTOS
from studio import selectors
from studio.models import SubjectKind

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def subject_status_label(status: str) -> str:
    return {
        selectors.SubjectStatus.COLLECTING: _("Collecting photos"),
        selectors.SubjectStatus.TRAINING: _("Training"),
        selectors.SubjectStatus.READY: _("Ready"),
        selectors.SubjectStatus.FAILED: _("Training failed"),
    }.get(status, "")


@register.filter
def photo_status_label(status: str) -> str:
    return {
        selectors.PhotoStatus.CHECKING: _("Checking…"),
        selectors.PhotoStatus.ACCEPTED: _("Accepted"),
        selectors.PhotoStatus.REJECTED: _("Not usable"),
        selectors.PhotoStatus.UNCHECKED: _("Could not be checked"),
    }.get(status, "")


@register.filter
def photo_tip(kind: str) -> str:
    numbers = {"min": MIN_PHOTOS, "max": MAX_PHOTOS}
    if kind == SubjectKind.PERSON:
        return (
            _(
                "Upload %(min)s to %(max)s photos of just you: your face clearly visible and sharp, "
                "in different places, light and angles."
            )
            % numbers
        )
    if kind == SubjectKind.CAT:
        return _("Upload %(min)s to %(max)s photos of just your cat: sharp, in different places, light and poses.") % (
            numbers
        )
    return _("Upload %(min)s to %(max)s photos of just your dog: sharp, in different places, light and poses.") % (
        numbers
    )


@register.simple_tag
def model_previews(model):
    return selectors.model_previews(model)
