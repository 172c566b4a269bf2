import signal
import time

from django.core.management.base import BaseCommand
from redis.exceptions import RedisError

from ontop.periodic import tick


class Command(BaseCommand):
    help = "Enqueue periodic jobs (offer refresh, ...) on schedule; safe to run on several machines."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one tick, then exit")
        # Ticks are cheap (one SET NX per job) and the job sweep runs every 10 s: tick often.
        parser.add_argument("--every", type=float, default=2.0, help="seconds between ticks")

    def handle(self, *args, once: bool, every: float, **options):
        running = True

        def stop(signum, frame):
            nonlocal running
            running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while running:
            try:
                tick()
            except RedisError as exc:  # Redis restarting: try again next tick
                self.stderr.write(f"periodic: Redis unavailable ({exc}); retrying")
            if once:
                return
            deadline = time.monotonic() + every
            while running and time.monotonic() < deadline:
                time.sleep(0.2)
