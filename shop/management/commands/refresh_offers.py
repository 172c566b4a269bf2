from django.core.management.base import BaseCommand

from shop.services import offers_refresh_stale


class Command(BaseCommand):
    help = "Re-price products whose offers are older than ONTOP_OFFERS_STALE_HOURS (Naver budget permitting)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=50, help="at most this many products (default 50)")

    def handle(self, *args, limit: int, **options):
        refreshed = offers_refresh_stale(limit=limit)
        self.stdout.write(self.style.SUCCESS(f"Refreshed offers for {refreshed} products."))
