from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = _("Profile studio")

    def ready(self) -> None:
        from generation.handlers import handler_register
        from studio.handler import PhotoCheckHandler, TrainingHandler
        from studio.one_photo_handler import OnePhotoProfileHandler
        from studio.portrait_handler import PortraitHandler, PoseExtractHandler

        handler_register(PhotoCheckHandler())
        handler_register(TrainingHandler())
        handler_register(PortraitHandler())
        handler_register(PoseExtractHandler())
        handler_register(OnePhotoProfileHandler())
