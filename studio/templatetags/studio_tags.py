from django import template
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from gpu_worker.contract.subject_photo_check import MAX_PHOTOS
from gpu_worker.contract.subject_training import MIN_PHOTOS
from studio import messages, selectors
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


# OpenPose COCO-18 limbs (indices into POSE_KEYPOINTS), drawn as a stick figure.
POSE_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
# The person's right in warm colours, the left in cool ones (as OpenPose draws them), the middle grey.
RIGHT, LEFT = {2, 3, 4, 8, 9, 10, 14, 16}, {5, 6, 7, 11, 12, 13, 15, 17}


def pose_svg_markup(keypoints, aspect: float = 0.8, *, height: int = 120, label: str = "") -> str:
    """An inline SVG of a pose's keypoints (0-1 of a frame of `aspect`), for pose cards and the admin."""
    from django.utils.html import escape

    width = round(height * float(aspect or 0.8))
    seen = {
        index: (float(row[0]) * width, float(row[1]) * height)
        for index, row in enumerate(keypoints or [])
        if len(row) == 3 and float(row[2]) > 0
    }

    def colour(a: int, b: int) -> str:
        side = {a, b}
        if side & RIGHT:
            return "#e0703a"
        if side & LEFT:
            return "#3a7be0"
        return "#7a7a7a"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pose-svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">',
        f'<rect width="{width}" height="{height}" rx="6" fill="#f4f4f6"/>',
    ]
    for a, b in POSE_LIMBS:
        if a in seen and b in seen:
            (x0, y0), (x1, y1) = seen[a], seen[b]
            parts.append(
                f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{colour(a, b)}" '
                'stroke-width="3" stroke-linecap="round"/>'
            )
    for x, y in seen.values():
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


@register.simple_tag
def pose_svg(pose, height: int = 120):
    from django.utils.safestring import mark_safe

    label = pose.name_ko if (get_language() or "").startswith("ko") else pose.name_en
    return mark_safe(pose_svg_markup(pose.keypoints, pose.aspect, height=height, label=label))  # noqa: S308 - numbers


@register.filter
def localized(obj, field: str) -> str:
    """`name` → obj.name_ko in Korean, obj.name_en otherwise."""
    korean = (get_language() or "").startswith("ko")
    return getattr(obj, f"{field}_ko" if korean else f"{field}_en", "") or getattr(obj, f"{field}_en", "")


@register.filter
def tone_name(tone: str) -> str:
    return messages.tone_name(tone)


@register.filter
def eta_text(seconds) -> str:
    if not seconds:
        return ""
    seconds = int(seconds)
    if seconds < 90:
        return _("about %(n)s s left") % {"n": seconds}
    minutes = round(seconds / 60)
    if minutes < 90:
        return _("about %(n)s min left") % {"n": minutes}
    return _("about %(h)s h %(m)s min left") % {"h": minutes // 60, "m": minutes % 60}
