from django.apps import AppConfig


class MakeoversConfig(AppConfig):
    name = "makeovers"
    verbose_name = "Desk makeovers"

    def ready(self) -> None:
        from generation.handlers import handler_register
        from makeovers.handler import MakeoverHandler

        handler_register(MakeoverHandler())

    def load_demo_data(self) -> str:
        from makeovers.services import makeover_styles_load_demo
        from shop.services import catalog_load_demo

        return f"{makeover_styles_load_demo()} makeover styles, {catalog_load_demo()} products"
