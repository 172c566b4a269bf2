from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DiaryConfig(AppConfig):
    name = "diary"
    verbose_name = _("Picture diary")

    def ready(self) -> None:
        from diary.handler import DiaryHandler
        from generation.handlers import handler_register

        handler_register(DiaryHandler())

    def load_demo_data(self) -> str:
        from diary.services import diary_styles_load_demo

        return f"{diary_styles_load_demo()} diary styles"
