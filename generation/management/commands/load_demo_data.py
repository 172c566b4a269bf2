from django.core.management.base import BaseCommand

from generation.services import styles_load_demo
from shop.services import catalog_load_demo


class Command(BaseCommand):
    help = "Load the demo styles and catalog products (safe to run again)."

    def handle(self, *args, **options):
        styles = styles_load_demo()
        products = catalog_load_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {styles} styles, {products} products."))
