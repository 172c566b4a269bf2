"""Django-side RQ jobs of the studio (queue "default")."""

from __future__ import annotations

from studio import services


def subjects_expire() -> int:
    """Periodic (hourly): delete the subjects unused for SUBJECT_RETENTION_DAYS days, files and all."""
    return services.subjects_expire()
