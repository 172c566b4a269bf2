from django.apps import apps
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Load every app's demo data (styles, catalog products, ...); safe to run again."

    def handle(self, *args, **options):
        # Each app that has demo data says so with a `load_demo_data()` on its AppConfig.
        loaded = [config.load_demo_data() for config in apps.get_app_configs() if hasattr(config, "load_demo_data")]
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {'; '.join(loaded)}."))
