from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from generation.handlers import PreviewHandler, handler_register
        from generation.lora_check_handler import LoraCheckHandler

        handler_register(PreviewHandler())
        handler_register(LoraCheckHandler())
