import pytest
from rq.serializers import JSONSerializer

from ontop.periodic import PeriodicJob, tick
from tests.conftest import run_django_worker_burst

pytestmark = pytest.mark.django_db(transaction=True)


def test_periodic_jobs_are_enqueued_once_per_interval_as_json(redis_clean):
    import django_rq

    jobs = (PeriodicJob("refresh", "shop.tasks.refresh_stale_offers", 3600),)
    assert tick(jobs) == ["refresh"]
    assert tick(jobs) == [], "a second scheduler (or tick) inside the interval enqueues nothing"
    queue = django_rq.get_queue("default")
    assert queue.serializer is JSONSerializer
    [job] = queue.get_jobs()
    assert job.func_name == "shop.tasks.refresh_stale_offers"
    run_django_worker_burst()
    assert job.get_status(refresh=True) == "finished", "the JSON worker could read and run it"
