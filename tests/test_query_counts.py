"""Every list runs a constant number of SQL queries (and, for jobs, Redis commands), whatever its length.

Each list is read at 1 row and at 20 rows; the counts must be equal and exactly the figure given, so
an N+1 that creeps back fails here. The figures include the session/token authentication queries.

The benchmark (`ONTOP_BENCH=1`, see docs/benchmarks.md "Query counts") times the makeover list and the
web status poll with the Django test client. `ONTOP_QUERY_COUNTS_DISCOVER=1` prints the counts instead
of asserting them, `ONTOP_QUERY_SQL=1` the queries themselves: what to look at when a count moves.
"""

from __future__ import annotations

import io
import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis import Redis

from generation import dispatch
from generation.models import GenerationJob
from gpu_worker.contract import PROGRESS_META_KEY, Progress
from ontop.accounts.services import api_token_issue
from tests.photos import make_desk_photo

pytestmark = pytest.mark.django_db(transaction=True)


def _token_client(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_issue(user=user)}"
    return client


def _makeovers(client, count: int) -> list[str]:
    """`count` makeovers made through the API (queued in RQ, as people's open jobs are)."""
    upload_id = client.post("/api/uploads/", {"photo": io.BytesIO(make_desk_photo())}).json()["id"]
    ids = []
    for _ in range(count):
        response = client.post("/api/makeovers/", {"upload_id": upload_id}, content_type="application/json")
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    return ids


def _start(job_id: str, *, percent: float = 40.0) -> None:
    """What the GPU worker does when it paints: the RQ job is started and reports progress."""
    from rq.job import JobStatus

    job = GenerationJob.objects.get(pk=job_id)
    rq_job = dispatch.gpu_job_fetch(job.gpu_rq_job_id)
    rq_job.started_at = timezone.now() - timedelta(seconds=10)
    rq_job.meta[PROGRESS_META_KEY] = Progress(
        stage="painting", percent=percent, step=8, total_steps=20, updated_at=time.time()
    ).to_dict()
    rq_job.save()
    rq_job.set_status(JobStatus.STARTED)
    GenerationJob.objects.filter(pk=job_id).update(status=GenerationJob.Status.RUNNING, started_at=timezone.now())


@pytest.fixture(autouse=True)
def _typical_durations(user):
    """Someone else's finished job of each kind, so the estimates have a typical duration (cached
    after one read, as on a site that has run for a while)."""
    from generation.models import Upload

    someone = user.__class__.objects.create_user("earlier", "earlier@example.com", "another-long-password")
    upload = Upload.objects.create(owner=someone, image="uploads/x.jpg", width=10, height=10)
    now = timezone.now()
    for kind in ("desk_makeover", "picture_diary", "subject_training", "portrait", "one_photo_profile"):
        GenerationJob.objects.create(
            owner=someone,
            kind=kind,
            status=GenerationJob.Status.SUCCEEDED,
            spec={},
            upload=upload,
            started_at=now - timedelta(seconds=65),
            finished_at=now - timedelta(seconds=5),
        )


def _cpu_and_queries(request: Callable[[], object], runs: int) -> tuple[float, int]:
    """Median CPU milliseconds of one request, and its query count."""
    request()  # warm: imports, templates, the connection
    times = []
    for _ in range(runs):
        started = time.process_time()
        request()
        times.append((time.process_time() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        request()
    if os.environ.get("ONTOP_QUERY_SQL"):
        print("\n".join(q["sql"][:160] for q in queries.captured_queries))
    return statistics.median(times), len(queries)


# ---- the constant-count check ---------------------------------------------------------------------

DISCOVER = bool(os.environ.get("ONTOP_QUERY_COUNTS_DISCOVER"))  # print the counts instead of asserting


def _queries(client, url: str, ids: list[str]) -> tuple[int, int]:
    """(SQL queries, rows of ours the answer shows) of one GET, after one warm-up GET (which fills the
    per-process caches a real server has already filled)."""
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    body = response.content.decode()
    if os.environ.get("ONTOP_QUERY_SQL"):
        print("\n".join(q["sql"][:160] for q in queries.captured_queries))
    return len(queries), sum(1 for row_id in ids if str(row_id) in body)


def _constant(client, url: str, add_rows: Callable[[int], list], expected: int, *, page: int = 20) -> None:
    """The same `expected` query count at 1 row and at 20 (of which the page shows `page`)."""
    ids = list(add_rows(1))
    one = _queries(client, url, ids)
    ids += add_rows(19)
    twenty = _queries(client, url, ids)
    if DISCOVER:
        print(f"\nCOUNT {url}: 1 row -> {one}, 20 rows -> {twenty}")
        return
    assert one == (expected, 1), (url, one)
    assert twenty == (expected, page), (url, twenty)


@pytest.mark.skipif(not os.environ.get("ONTOP_BENCH"), reason="a benchmark: ONTOP_BENCH=1 runs it")
def test_bench_makeover_list_and_status_poll(client, user, redis_clean, settings, capsys):
    settings.DAILY_GENERATION_LIMIT = 1000
    api = _token_client(client, user)
    ids = _makeovers(api, 20)
    for job_id in ids[:5]:
        _start(job_id)
    runs = int(os.environ.get("ONTOP_BENCH_RUNS", "200"))

    def listing():
        response = api.get("/api/makeovers/")
        assert response.status_code == 200
        assert response.json()["count"] == 20

    from django.test import Client

    web = Client()
    web.force_login(user)

    def poll():
        response = web.get(f"/jobs/{ids[0]}/status/")
        assert response.status_code == 200
        assert response.json()["stage"] == "painting"

    list_ms, list_queries = _cpu_and_queries(listing, runs)
    poll_ms, poll_queries = _cpu_and_queries(poll, runs)
    info = Redis.from_url(settings.REDIS_URL).info("stats")["total_connections_received"]
    for _ in range(50):
        poll()
    opened = Redis.from_url(settings.REDIS_URL).info("stats")["total_connections_received"] - info - 1
    with capsys.disabled():
        print(
            f"\nGET /api/makeovers/ (20 jobs, 5 painting): {list_ms:.1f} ms CPU, {list_queries} queries"
            f"\nweb status poll (painting): {poll_ms:.1f} ms CPU, {poll_queries} queries;"
            f" Redis connections opened by 50 polls: {opened}"
        )


# ---- makeovers ------------------------------------------------------------------------------------


def _makeover_rows(user, api):
    """Finished makeovers with recommended items and open ones (queued or painting), alternately."""
    from tests.test_shop import ITEMS, _attach, _finished_job

    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        ids = []
        for _ in range(count):
            if made % 2 == 0:
                job = _finished_job(user, ITEMS)
                assert _attach(job) == 3
                job_id = str(job.id)
            else:
                job_id = _makeovers(api, 1)[0]
                if made % 4 == 3:
                    _start(job_id)
            ids.append(job_id)
            made += 1
        return ids

    return add


@pytest.fixture
def api(client, user, redis_clean, settings):
    from shop.services import catalog_load_demo

    settings.DAILY_GENERATION_LIMIT = 1000
    catalog_load_demo()
    return _token_client(client, user)


def test_makeover_list_api(api, user):
    _constant(api, "/api/makeovers/", _makeover_rows(user, api), 5)


def test_makeover_history_page(api, user):
    from django.test import Client

    web = Client()
    web.force_login(user)
    _constant(web, "/makeovers/", _makeover_rows(user, api), 4, page=12)


# ---- the picture diary ----------------------------------------------------------------------------


def _last_month() -> tuple[int, int]:
    first = timezone.localdate().replace(day=1) - timedelta(days=1)
    return first.year, first.month


def _diary_rows(user):
    """Entries on the first days of last month: each with its picture, finished every other day."""
    from tests.test_diary_web import diary_styles, finish_picture, write_entry

    diary_styles()
    year, month = _last_month()
    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        ids = []
        for _ in range(count):
            made += 1
            entry = write_entry(user, timezone.localdate().replace(year=year, month=month, day=made))
            if made % 2:
                finish_picture(entry.pictures.get().job)
            ids.append(str(entry.id))
        return ids

    return add


def test_diary_entries_api(api, user):
    _constant(api, "/api/diary/entries/", _diary_rows(user), 4)


def test_diary_month_api(api, user):
    year, month = _last_month()
    _constant(api, f"/api/diary/entries/?month={year}-{month:02d}", _diary_rows(user), 4)


def test_diary_timeline_and_calendar_pages(client, user, redis_clean, settings):
    settings.DAILY_GENERATION_LIMIT = 1000
    client.force_login(user)
    _constant(client, "/diary/timeline/", _diary_rows(user), 5, page=10)


def test_diary_calendar_page(client, user, redis_clean, settings):
    settings.DAILY_GENERATION_LIMIT = 1000
    client.force_login(user)
    year, month = _last_month()
    _constant(client, f"/diary/{year}/{month}/", _diary_rows(user), 4)


# ---- the profile studio ---------------------------------------------------------------------------


@pytest.fixture
def studio(settings):
    from tests.test_studio_packs import load_demo_concepts

    settings.STUDIO_MAX_SUBJECTS = 100
    settings.STUDIO_DAILY_TRAININGS = 100
    settings.STUDIO_DAILY_PORTRAITS = 1000
    settings.STUDIO_DAILY_ONE_PHOTO_PROFILES = 100
    load_demo_concepts()


def _subject_rows(user):
    """Subjects with a finished personal model, and every third one training a newer model."""
    from studio import services as studio_services
    from tests.test_studio_packs import ready_subject

    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        ids = []
        for _ in range(count):
            made += 1
            subject = ready_subject(
                user, kind="dog" if made % 2 else "person", name=f"Bori {made}", keep_photos=made % 3 == 2
            )
            if made % 3 == 2:
                studio_services.subject_train(subject=subject)
            ids.append(str(subject.id))
        return ids

    return add


def test_studio_subjects_api(api, user, studio):
    _constant(api, "/api/studio/subjects/", _subject_rows(user), 6)


def test_studio_models_api(api, user, studio):
    from studio.models import PersonalModel

    add_subjects = _subject_rows(user)

    def add(count: int) -> list[str]:
        subjects = add_subjects(count)
        return [str(m.id) for m in PersonalModel.objects.filter(subject_id__in=subjects)]

    _constant(api, "/api/studio/models/", add, 3)


def test_studio_library_page(api, user, studio):
    from django.test import Client

    web = Client()
    web.force_login(user)
    _constant(web, "/studio/", _subject_rows(user), 9)


def _pack_rows(user, size: int = 1):
    from tests.test_studio_packs import finish_portrait, make_pack, portraits, ready_subject

    subject = ready_subject(user)
    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        ids = []
        for _ in range(count):
            made += 1
            pack = make_pack(user, subject, size=size)
            if made % 2:
                finish_portrait(portraits(pack)[0])
            ids.append(str(pack.id))
        return ids

    return subject, add


def test_studio_packs_api(api, user, studio):
    _, add = _pack_rows(user)
    _constant(api, "/api/studio/packs/", add, 4)


@pytest.mark.parametrize("url", ["/api/studio/packs/{id}/", "/studio/packs/{id}/", "/studio/packs/{id}/state/"])
def test_a_packs_portraits(api, user, studio, url):
    """A pack's pictures: 1 and PACK_MAX (12), a third of them finished and one painting."""
    from django.test import Client

    from gpu_worker.contract.portrait import PACK_MAX
    from tests.test_studio_packs import finish_portrait, make_pack, portraits, ready_subject

    subject = ready_subject(user)
    client = api
    if not url.startswith("/api/"):
        client = Client()
        client.force_login(user)
    counts = []
    for size in (1, PACK_MAX):
        pack = make_pack(user, subject, size=size)
        rows = portraits(pack)
        for row in rows[::3]:
            finish_portrait(row)
        if size > 1:
            _start(str(rows[1].job_id))
        counts.append(_queries(client, url.format(id=pack.id), [str(p.job_id) for p in rows]))
    if DISCOVER:
        print(f"\nCOUNT {url}: {counts}")
        return
    expected = {"/api/studio/packs/{id}/": 5, "/studio/packs/{id}/": 6, "/studio/packs/{id}/state/": 4}[url]
    assert counts == [(expected, 1), (expected, PACK_MAX)]


def _profile_rows(user):
    from tests.test_one_photo_profile import finish_profile, make_profile

    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        ids = []
        for _ in range(count):
            made += 1
            profile = make_profile(user, seed=made)
            if made % 2:
                finish_profile(profile)
            ids.append(str(profile.pk))
        return ids

    return add


def test_one_photo_profiles_api(api, user, studio):
    _constant(api, "/api/studio/one-photo-profiles/", _profile_rows(user), 3)


def test_one_photo_profiles_page(api, user, studio):
    from django.test import Client

    web = Client()
    web.force_login(user)
    _constant(web, "/studio/one-photo/", _profile_rows(user), 5)


# ---- the shop, tokens, styles ---------------------------------------------------------------------


def _product_rows():
    """Products of one new category, each a deal today, recommended, with two offers (titles: row ids)."""
    from shop.models import Category, Offer, Product

    category = Category.objects.create(slug="qc", name_en="Query counts", name_ko="쿼리")
    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        titles = []
        for _ in range(count):
            made += 1
            title = f"QC product {made:03d}"
            product = Product.objects.create(
                title=title,
                category=category,
                lowest_price=10_000 + made,
                regular_price=20_000,
                recommended_count=made,
            )
            for mall in ("A mall", "B mall"):
                Offer.objects.create(
                    product=product,
                    mall_name=mall,
                    price=10_000 + made,
                    link="https://x.test/",
                    fetched_at=timezone.now(),
                )
            titles.append(title)
        return titles

    return add


@pytest.mark.parametrize(
    ("url", "expected"),
    [("/api/shop/products/?category=qc", 3), ("/shop/?category=qc", 5), ("/shop/deals/", 4), ("/shop/recommended/", 4)],
)
def test_shop_listings(api, user, url, expected):
    client = api
    if not url.startswith("/api/"):
        from django.test import Client

        client = Client()
        client.force_login(user)
    _constant(client, url, _product_rows(), expected)


def test_shop_categories_api(api):
    from shop.models import Category

    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        names = []
        for _ in range(count):
            made += 1
            names.append(
                Category.objects.create(slug=f"qc-{made}", name_en=f"QC category {made:03d}", name_ko="쿼리").name_en
            )
        return names

    _constant(api, "/api/shop/categories/", add, 2)


def test_api_tokens_list(api, user):
    from ontop.accounts.services import api_token_create

    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        names = []
        for _ in range(count):
            made += 1
            names.append(f"QC phone {made:03d}")
            api_token_create(user=user, device_name=names[-1])
        return names

    _constant(api, "/api/auth/tokens/", add, 3)


def test_styles_list(api):
    from generation.models import Style

    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        slugs = []
        for _ in range(count):
            made += 1
            slugs.append(Style.objects.create(slug=f"qc-style-{made:03d}", name_en="QC", name_ko="QC").slug)
        return slugs

    _constant(api, "/api/styles/", add, 1)


def test_studio_concepts_and_poses(api, studio):
    """Fixed lists (the demo's concepts and poses): the same count whatever their length, checked by
    making all but one inactive, then all active again."""
    from studio.models import Concept, Pose

    counts = []
    for url, model in (("/api/studio/concepts/", Concept), ("/api/studio/poses/", Pose)):
        model.objects.update(is_active=False)
        model.objects.filter(pk=model.objects.order_by("pk").first().pk).update(is_active=True)
        one = _queries(api, url, [])[0]
        model.objects.update(is_active=True)
        counts.append((url, one, _queries(api, url, [])[0], model.objects.count()))
    if DISCOVER:
        print(f"\nCOUNT {counts}")
        return
    assert counts == [("/api/studio/concepts/", 3, 3, 5), ("/api/studio/poses/", 2, 2, 5)]


@pytest.mark.parametrize("url", ["/api/studio/subjects/{id}/photos/", "/studio/subjects/{id}/"])
def test_a_subjects_photos(api, user, studio, url):
    """A subject's photos: 1 and MAX_PHOTOS (20), checked and accepted."""
    from django.test import Client

    from studio.models import SubjectPhoto
    from tests.test_studio_web import accepted_subject

    client = api
    if not url.startswith("/api/"):
        client = Client()
        client.force_login(user)
    counts = []
    for number, count in enumerate((1, 20)):
        subject = accepted_subject(user, count=count, name=f"Bori {number}")
        photos = [str(p) for p in SubjectPhoto.objects.filter(subject=subject).values_list("pk", flat=True)]
        counts.append(_queries(client, url.format(id=subject.id), photos))
    if DISCOVER:
        print(f"\nCOUNT {url}: {counts}")
        return
    assert (
        counts
        == {
            "/api/studio/subjects/{id}/photos/": [(5, 1), (5, 20)],
            "/studio/subjects/{id}/": [(9, 1), (9, 20)],
        }[url]
    )


def test_home_page_recent_jobs(api, user):
    from django.test import Client

    web = Client()
    web.force_login(user)
    _constant(web, "/", _makeover_rows(user, api), 7, page=4)


# ---- Redis: a page of open jobs costs what one does -----------------------------------------------


def _redis_cost(probe: Redis, client, url: str) -> dict[str, int]:
    """Round trips the server read (INFO's total_reads_processed) and commands it ran, for one GET.
    `probe` is a connection of its own, connected before."""
    assert client.get(url).status_code == 200  # warm
    before_stats, before_commands = probe.info("stats"), probe.info("commandstats")
    assert client.get(url).status_code == 200
    after_stats, after_commands = probe.info("stats"), probe.info("commandstats")

    def calls(name: str) -> int:
        return after_commands.get(f"cmdstat_{name}", {}).get("calls", 0) - before_commands.get(
            f"cmdstat_{name}", {}
        ).get("calls", 0)

    if DISCOVER:
        print({k: v["calls"] - before_commands.get(k, {}).get("calls", 0) for k, v in after_commands.items()})
    # Between the two pairs of INFO calls, two more INFO reads and commands are the probe's own.
    return {
        "round_trips": after_stats["total_reads_processed"] - before_stats["total_reads_processed"] - 2,
        "hgetall": calls("hgetall"),
        "lpos": calls("lpos"),
        "info": calls("info") - 2,  # rq's get_position asked INFO for the server's version, per job
    }


@pytest.mark.parametrize("url", ["/api/makeovers/", "/api/diary/entries/", "/api/studio/one-photo-profiles/"])
def test_a_page_of_open_jobs_is_one_redis_round_trip(api, user, studio, settings, url):
    """1 and 20 open jobs (queued, and painting too): the same 4 round trips. Every job's record and
    queue position travel in one pipeline (an HGETALL and an LPOS per job, and the queue's SCARD, sent
    together); the throttle's GET and SET and the typical duration's cached GET are the other three.
    Before, each job cost an HGETALL, and a queued one also an INFO, an LPOS and an SMEMBERS, each
    its own round trip."""
    probe = Redis.from_url(settings.REDIS_URL)
    probe.ping()
    add = {
        "/api/makeovers/": lambda n: _makeovers(api, n),
        "/api/diary/entries/": _open_diary_rows(user),
        "/api/studio/one-photo-profiles/": _open_profile_rows(user),
    }[url]
    costs = []
    for count in (1, 19):
        for job_id in add(count)[1::4]:  # the first stays queued; later, every fourth is painting
            _start(job_id)
        costs.append(_redis_cost(probe, api, url))
    assert costs == [
        {"round_trips": 4, "hgetall": 1, "lpos": 1, "info": 0},
        {"round_trips": 4, "hgetall": 20, "lpos": 20, "info": 0},
    ]


def _open_diary_rows(user):
    from tests.test_diary_web import diary_styles, write_entry

    diary_styles()
    year, month = _last_month()
    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        ids = []
        for _ in range(count):
            made += 1
            entry = write_entry(user, timezone.localdate().replace(year=year, month=month, day=made))
            ids.append(str(entry.pictures.get().job_id))
        return ids

    return add


def _open_profile_rows(user):
    from tests.test_one_photo_profile import make_profile

    made = 0

    def add(count: int) -> list[str]:
        nonlocal made
        made += count
        return [str(make_profile(user, seed=made - i).job_id) for i in range(count)]

    return add
