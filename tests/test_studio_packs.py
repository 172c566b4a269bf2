"""Profile packs (profile studio part 2): the demo concepts and poses, the rules of a pack (input,
model, the whole pack's quota, the "auto" tone, idempotency), deleting and cancelling, the pages in
English and Korean, privacy, the admin, and a pack painted by the real GPU worker on tiny models."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from generation import selectors as job_selectors
from generation import services as job_services
from generation.models import DeletedUsage, GenerationJob
from gpu_worker.contract import OutputImage
from gpu_worker.contract.portrait import (
    KIND as PORTRAIT_KIND,
)
from gpu_worker.contract.portrait import (
    MAX_INSTRUCTION_CHARS,
    PortraitParams,
    PortraitResult,
    check_keypoints,
)
from gpu_worker.contract.pose_extract import PoseExtractResult
from gpu_worker.contract.tone import SkinReading, tone_decide
from studio import selectors as studio_selectors
from studio import services as studio_services
from studio.models import Concept, Pack, PersonalModel, Portrait, Pose, Subject, SubjectPhoto
from tests.test_studio_web import (
    _succeed,
    accepted_subject,
    finish_training,
    image_bytes,
    owner_files,
    stored_files,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Warm skin (hue about 62-63°) and cool skin (about 48-49°), as the photo check stores them.
WARM = [(60.0, 10.0, 20.0, 5000), (62.0, 11.0, 21.0, 5000), (58.0, 10.0, 19.0, 5000)]
COOL = [(60.0, 20.0, 22.0, 5000), (62.0, 21.0, 24.0, 5000), (58.0, 20.0, 23.0, 300)]


@pytest.fixture(autouse=True)
def _redis(redis_clean):
    return redis_clean


@pytest.fixture(autouse=True)
def demo_concepts(db):
    """The demo poses and concepts of migration 0004 (a transactional test empties every table after it)."""
    load_demo_concepts()


def load_demo_concepts() -> None:
    import importlib

    from django.apps import apps

    importlib.import_module("studio.migrations.0004_demo_poses_concepts").load(apps, None)


# ---- helpers shared by the pack test files -------------------------------------------------------


def ready_subject(owner, kind: str = "person", *, readings=(), keep_photos: bool = False, **kwargs) -> Subject:
    """A subject with a finished personal model; its first photos carry `readings` (L*, a*, b*, pixels)."""
    subject = accepted_subject(owner, kind=kind, keep_photos=keep_photos, **kwargs)
    for photo, (lightness, a, b, pixels) in zip(subject.photos.order_by("created_at", "id"), readings, strict=False):
        SubjectPhoto.objects.filter(pk=photo.pk).update(
            skin_lightness=lightness, skin_a=a, skin_b=b, skin_pixels=pixels
        )
    finish_training(studio_services.subject_train(subject=subject))
    return Subject.objects.get(pk=subject.pk)


def concept(slug: str) -> Concept:
    return Concept.objects.get(slug=slug)


def pose(slug: str) -> Pose:
    return Pose.objects.get(slug=slug)


def make_pack(owner, subject, *, concept_slug="studio-headshot", pose_slug=None, **kwargs) -> Pack:
    return studio_services.pack_create(
        owner=owner,
        subject=subject,
        concept=concept(concept_slug),
        pose=pose(pose_slug) if pose_slug else None,
        **kwargs,
    )


def finish_portrait(portrait: Portrait, colour=(200, 120, 90)) -> str:
    """What the GPU worker and finalize do for one picture: a PNG under the job's prefix and a result."""
    job = portrait.job
    params: PortraitParams = job_selectors.job_params(job=job)
    png = image_bytes(Image.new("RGB", (40, 50), colour), "PNG")
    key = default_storage.save(f"{job.output_prefix}result.png", ContentFile(png))
    result = PortraitResult(
        seed=params.seed,
        prompt="a photo",
        negative_prompt="",
        writer="template",
        writer_fallback_reason=None,
        scheduler=params.concept.scheduler,
        tone=params.tone,
        steps=params.concept.steps,
        guidance=params.concept.guidance,
        stages=["painting", "upscaling", "saving"],
        faces_fixed=0,
        width=40,
        height=50,
    )
    _succeed(job, result, outputs=[OutputImage(role="result", key=key, width=40, height=50)])
    return key


def portraits(pack: Pack) -> list[Portrait]:
    return list(Portrait.objects.filter(pack=pack).select_related("job").order_by("index"))


def _page(client, url, language="en") -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# ---- demo data ---------------------------------------------------------------------------------------


def test_the_demo_poses_and_concepts_are_there_and_valid():
    poses = list(Pose.objects.filter(is_active=True))
    assert [p.slug for p in poses] == ["front", "three-quarter", "arms-crossed", "hand-on-chin", "waving"]
    for p in poses:
        check_keypoints(p.keypoints)
        assert p.aspect == 0.8
        assert p.name_ko
        assert p.name_en
    concepts = {c.slug: c for c in Concept.objects.all()}
    assert list(concepts) == ["studio-headshot", "business-profile", "fairy-tale", "film-photo", "pet-birthday"]
    for c in concepts.values():
        assert c.prompt_template.count("{subject}") == 1
        assert c.negative_prompt
        assert c.pack_size == 4
        assert c.name_ko
        assert c.description_ko
        assert c.description_en
        studio_services.concept_spec(c)  # the contract accepts its snapshot
    assert concepts["pet-birthday"].subject_kinds == ["dog", "cat"]
    assert not concepts["pet-birthday"].poses.exists()
    assert [c.slug for c in studio_selectors.concepts_active(kind="cat")] == ["pet-birthday"]
    assert len(studio_selectors.concepts_active(kind="person")) == 4
    assert sorted(p.slug for p in concepts["fairy-tale"].poses.all()) == ["front", "three-quarter", "waving"]


# ---- making a pack -----------------------------------------------------------------------------------


def test_a_pack_is_one_portrait_job_per_picture_with_the_models_files_and_the_concept_then(user):
    subject = ready_subject(user)
    model = PersonalModel.objects.get()
    training = job_selectors.job_result(job=model.training.job)
    pack = make_pack(user, subject, pose_slug="arms-crossed", tone="warm", size=3)
    assert (pack.size, pack.tone_requested, pack.tone, pack.tone_confidence) == (3, "warm", "warm", None)
    assert (pack.personal_model_id, pack.concept.slug, pack.pose.slug) == (model.id, "studio-headshot", "arms-crossed")
    rows = portraits(pack)
    assert [p.index for p in rows] == [1, 2, 3]
    assert {p.job.kind for p in rows} == {PORTRAIT_KIND}
    params = [job_selectors.job_params(job=p.job) for p in rows]
    assert len({p.seed for p in params}) == 3, "each picture has its own seed"
    first = params[0]
    assert first.subject_kind == "person"
    assert first.tone == "warm"
    assert first.instruction == ""
    assert (first.model.lora.key, first.model.lora.sha256) == (training.lora_key, training.lora_sha256)
    assert (first.model.embeddings_key, first.model.embeddings_sha256) == (
        training.embeddings_key,
        training.embeddings_sha256,
    )
    assert (first.model.tokens, first.model.class_word, first.model.base_model) == (["<s0>", "<s1>"], "person", "tiny")
    headshot = concept("studio-headshot")
    assert first.concept.prompt_template == headshot.prompt_template
    assert (first.concept.steps, first.concept.guidance, first.concept.scheduler) == (30, 6.0, "dpmpp_2m_karras")
    assert first.pose.slug == "arms-crossed"
    assert first.pose.keypoints == pose("arms-crossed").keypoints
    # Editing the concept later changes no pack.
    Concept.objects.filter(pk=headshot.pk).update(steps=5)
    assert job_selectors.job_params(job=rows[0].job).concept.steps == 30
    # The size defaults to the concept's.
    assert make_pack(user, subject).size == 4


def test_the_concepts_style_brings_its_lora_and_words(user):
    from generation.models import Style

    style = Style.objects.create(
        slug="soft",
        name_en="Soft",
        name_ko="부드럽게",
        scopes=["portrait"],
        trigger_words="sft style",
        prompt_addition="soft pastel",
        negative_prompt_addition="harsh",
        lora_file="styles/loras/soft.safetensors",
        lora_sha256="a" * 64,
        lora_weight=0.6,
    )
    Concept.objects.filter(slug="film-photo").update(style=style)
    spec = studio_services.concept_spec(concept("film-photo"))
    assert spec.prompt_template.endswith(", sft style, soft pastel")
    assert spec.prompt_template.count("{subject}") == 1
    assert spec.negative_prompt.endswith(", harsh")
    assert (spec.style_lora.key, spec.style_lora.sha256, spec.style_lora.weight) == (
        "styles/loras/soft.safetensors",
        "a" * 64,
        0.6,
    )


@pytest.mark.parametrize(
    ("kind", "choice", "field", "code"),
    [
        ("person", {"concept_slug": "pet-birthday"}, "concept", "concept_unavailable"),
        ("dog", {"concept_slug": "studio-headshot"}, "concept", "concept_unavailable"),
        ("dog", {"concept_slug": "pet-birthday", "pose_slug": "front"}, "pose", "pose_not_for_pets"),
        ("person", {"concept_slug": "fairy-tale", "pose_slug": "arms-crossed"}, "pose", "pose_unavailable"),
        ("person", {"instruction": "on a beach"}, "instruction", "instruction_not_for_people"),
        ("dog", {"concept_slug": "pet-birthday", "instruction": "x" * (MAX_INSTRUCTION_CHARS + 1)}, "instruction",
         "instruction_too_long"),
        ("person", {"size": 0}, "size", "size_out_of_range"),
        ("person", {"size": 13}, "size", "size_out_of_range"),
        ("person", {"tone": "purple"}, "tone", "tone_unavailable"),
    ],
)  # fmt: skip
def test_a_choice_the_pack_cannot_take_is_refused_and_nothing_is_made(user, kind, choice, field, code):
    subject = ready_subject(user, kind=kind)
    jobs = GenerationJob.objects.count()
    with pytest.raises(studio_services.PackInvalid) as refused:
        make_pack(user, subject, **choice)
    assert (refused.value.field, refused.value.code) == (field, code)
    assert (Pack.objects.count(), GenerationJob.objects.count()) == (0, jobs)


def test_inactive_concepts_poses_and_tones_not_offered_are_refused(user):
    subject = ready_subject(user)
    Pose.objects.filter(slug="front").update(is_active=False)
    with pytest.raises(studio_services.PackInvalid, match="pose_unavailable"):
        make_pack(user, subject, pose_slug="front")
    Concept.objects.filter(slug="film-photo").update(tones=["warm"])
    with pytest.raises(studio_services.PackInvalid, match="tone_unavailable"):
        make_pack(user, subject, concept_slug="film-photo", tone="auto")
    assert make_pack(user, subject, concept_slug="film-photo", tone="warm").tone == "warm"
    Concept.objects.filter(slug="business-profile").update(is_active=False)
    with pytest.raises(studio_services.PackInvalid, match="concept_unavailable"):
        make_pack(user, subject, concept_slug="business-profile")
    # A concept that lists no poses leaves the pose to the model: none can be picked.
    Concept.objects.get(slug="studio-headshot").poses.clear()
    with pytest.raises(studio_services.PackInvalid, match="pose_unavailable"):
        make_pack(user, subject, pose_slug="three-quarter")
    assert make_pack(user, subject).pose is None


def test_a_subject_without_a_finished_model_cannot_make_a_pack(user):
    subject = accepted_subject(user, kind="person")
    studio_services.subject_train(subject=subject)  # still running
    with pytest.raises(studio_services.NoPersonalModel):
        make_pack(user, subject)
    assert not Pack.objects.exists()
    assert not GenerationJob.objects.filter(kind=PORTRAIT_KIND).exists()


def test_the_whole_pack_must_fit_in_todays_portraits(user, settings):
    settings.STUDIO_DAILY_PORTRAITS = 7
    subject = ready_subject(user)
    make_pack(user, subject, size=4)
    with pytest.raises(studio_services.PortraitQuotaExceeded) as refused:
        make_pack(user, subject, size=4)
    assert (refused.value.limit, refused.value.remaining, refused.value.size) == (7, 3, 4)
    assert Pack.objects.count() == 1
    assert GenerationJob.objects.filter(kind=PORTRAIT_KIND).count() == 4
    from django.utils import translation

    from studio import messages

    with translation.override("en"):
        assert messages.portrait_quota(7, 3, 4) == (
            "A pack of 4 pictures does not fit: you have 3 portraits left today. "
            "Make a smaller pack, or come back tomorrow."
        )
    with translation.override("ko"):
        assert messages.portrait_quota(7, 3, 4) == (
            "사진 4장짜리 팩은 만들 수 없어요. 오늘 남은 프로필 사진은 3장이에요. "
            "더 작은 팩을 만들거나 내일 다시 와 주세요."
        )
    make_pack(user, subject, size=3)
    with pytest.raises(studio_services.PortraitQuotaExceeded):
        make_pack(user, subject, size=1)


def test_auto_decides_the_tone_from_the_photos_skin_even_after_they_were_deleted(user):
    subject = ready_subject(user, readings=WARM)
    assert not SubjectPhoto.objects.filter(subject=subject).exists(), "deleted after training"
    expected = tone_decide([SkinReading(*r) for r in WARM])
    # Only the decision stays with the model: the skin readings went with the photos.
    assert PersonalModel.objects.get().auto_tone == {"tone": expected.tone, "confidence": expected.confidence}
    pack = make_pack(user, subject, tone="auto")
    assert (pack.tone_requested, pack.tone, pack.tone_confidence) == ("auto", "warm", 0.585)
    assert (pack.tone, pack.tone_confidence) == (expected.tone, expected.confidence)
    assert {job_selectors.job_params(job=p.job).tone for p in portraits(pack)} == {"warm"}
    assert studio_selectors.pack_tone_label(pack) == "Auto: warm (58 % sure)"


def test_auto_reads_the_kept_photos_and_says_when_it_cannot_tell(user, other_user):
    subject = ready_subject(user, readings=COOL, keep_photos=True)
    pack = make_pack(user, subject)
    assert (pack.tone, pack.tone_confidence) == ("cool", 0.887)
    assert studio_selectors.auto_tone(subject).label == "Auto: cool (89 % sure)"
    unknown = ready_subject(other_user)  # no skin readings at all
    pack = make_pack(other_user, unknown)
    assert (pack.tone, pack.tone_confidence) == ("neutral", 0.0)
    assert studio_selectors.pack_tone_label(pack) == "Auto: neutral — we could not tell"


def test_a_pets_pack_follows_its_owners_words_and_auto_is_neutral(user):
    subject = ready_subject(user, kind="cat", readings=WARM)
    pack = make_pack(user, subject, concept_slug="pet-birthday", instruction="  낮잠 자는 모습  ", size=2)
    assert (pack.tone, pack.tone_confidence, pack.instruction) == ("neutral", None, "낮잠 자는 모습")
    params = job_selectors.job_params(job=portraits(pack)[0].job)
    assert (params.subject_kind, params.instruction, params.pose, params.tone) == (
        "cat",
        "낮잠 자는 모습",
        None,
        "neutral",
    )
    # Exactly MAX_INSTRUCTION_CHARS once stripped is fine.
    make_pack(user, subject, concept_slug="pet-birthday", instruction=" " + "a" * MAX_INSTRUCTION_CHARS + " ", size=1)


def test_the_same_submission_is_one_pack(user):
    subject = ready_subject(user)
    key = uuid.uuid4()
    first = make_pack(user, subject, submission_id=key)
    again = make_pack(user, subject, submission_id=key, size=2)
    assert first.id == again.id
    assert Pack.objects.count() == 1
    assert Portrait.objects.count() == 4
    # The same key sent for another subject is not that request: a pack of its own, with no key.
    other = ready_subject(user, name="Mina")
    elsewhere = make_pack(user, other, submission_id=key, size=1)
    assert (elsewhere.id != first.id, elsewhere.subject_id, elsewhere.submission_id) == (True, other.id, None)
    assert Pack.objects.get(pk=first.pk).subject_id == subject.id


def test_more_like_this_is_the_same_choices_with_new_seeds(user):
    subject = ready_subject(user)
    pack = make_pack(user, subject, concept_slug="fairy-tale", pose_slug="waving", tone="cool", size=2)
    more = studio_services.pack_more_like(pack=pack)
    assert more.id != pack.id
    assert more.more_like_id == pack.id
    assert (more.concept_id, more.pose_id, more.tone_requested, more.size) == (pack.concept_id, pack.pose_id, "cool", 2)
    seeds = {job_selectors.job_params(job=p.job).seed for p in portraits(pack) + portraits(more)}
    assert len(seeds) == 4


# ---- favourites, deleting, cancelling -----------------------------------------------------------------


def test_deleting_pictures_and_packs_deletes_their_files_but_not_todays_count(user, settings):
    settings.STUDIO_DAILY_PORTRAITS = 10
    subject = ready_subject(user)
    pack = make_pack(user, subject, size=2)
    first, second = portraits(pack)
    keys = [finish_portrait(first), finish_portrait(second)]
    assert all(default_storage.exists(k) for k in keys)
    assert studio_services.portrait_delete(portrait=first) is False
    assert not default_storage.exists(keys[0])
    assert default_storage.exists(keys[1])
    assert job_services.quota_of(owner=user, kind=PORTRAIT_KIND).used == 2
    assert studio_services.portrait_delete(portrait=second) is True, "the last picture takes the pack"
    assert not Pack.objects.exists()
    assert job_services.quota_of(owner=user, kind=PORTRAIT_KIND).used == 2
    assert DeletedUsage.objects.get(kind=PORTRAIT_KIND).count == 2
    other = make_pack(user, subject, size=2)
    key = finish_portrait(portraits(other)[0])
    studio_services.pack_delete(pack=other)
    assert not default_storage.exists(key)
    assert not Portrait.objects.exists()
    assert not GenerationJob.objects.filter(kind=PORTRAIT_KIND).exists()
    assert job_services.quota_of(owner=user, kind=PORTRAIT_KIND).used == 3  # 2 + the finished one


def test_cancel_stops_every_picture_not_done_yet(user):
    subject = ready_subject(user)
    pack = make_pack(user, subject, size=3)
    done = portraits(pack)[0]
    finish_portrait(done)
    assert studio_services.pack_cancel(pack=pack) == 2
    assert [p.job.status for p in portraits(pack)] == ["succeeded", "cancelled", "cancelled"]
    with pytest.raises(studio_services.NothingToCancel):
        studio_services.pack_cancel(pack=pack)


def test_deleting_the_subject_or_the_model_deletes_its_packs_and_every_file(user):
    subject = ready_subject(user)
    pack = make_pack(user, subject, size=2)
    key = finish_portrait(portraits(pack)[0])
    studio_services.personal_model_delete(model=PersonalModel.objects.get())
    assert not default_storage.exists(key)
    assert not Pack.objects.exists()
    assert not GenerationJob.objects.filter(kind=PORTRAIT_KIND).exists()
    finish_training(studio_services.subject_train(subject=accepted_subject(user, kind="person", name="Mina")))
    again = Subject.objects.get(name="Mina")
    second = portraits(make_pack(user, again, size=1))[0]
    finish_portrait(second)
    prefixes = [pack_portrait.job.output_prefix for pack_portrait in portraits(pack)] + [second.job.output_prefix]
    studio_services.subject_delete(subject=again)
    assert not GenerationJob.objects.filter(kind=PORTRAIT_KIND).exists()
    # Nothing is left under any of the pictures' own folders.
    assert [prefix for prefix in prefixes if stored_files(prefix.rstrip("/"))] == []
    assert not any(f for f in stored_files(f"results/{user.pk}") if "result.png" in f)


def test_deleting_the_training_job_from_the_job_admin_takes_its_pictures_and_their_files(user):
    subject = ready_subject(user)
    pack = make_pack(user, subject, size=2)
    key = finish_portrait(portraits(pack)[0])
    job_services.job_delete(job=PersonalModel.objects.get().training.job)
    assert not default_storage.exists(key)
    assert not GenerationJob.objects.filter(kind=PORTRAIT_KIND).exists()
    assert not Pack.objects.exists()


def test_a_finished_portrait_keeps_its_model_and_subject_in_use(user):
    subject = ready_subject(user)
    old = subject.last_used_at
    pack = make_pack(user, subject, size=1)
    Subject.objects.filter(pk=subject.pk).update(last_used_at=old)
    finish_portrait(portraits(pack)[0])
    assert Subject.objects.get(pk=subject.pk).last_used_at > old
    assert PersonalModel.objects.get().last_used_at > old


def test_an_open_portrait_keeps_its_subject_from_the_retention_sweep(user, settings):
    import datetime

    from django.utils import timezone

    subject = ready_subject(user)
    make_pack(user, subject, size=1)
    Subject.objects.filter(pk=subject.pk).update(last_used_at=timezone.now() - datetime.timedelta(days=400))
    assert studio_services.subjects_expire() == 0
    assert Subject.objects.filter(pk=subject.pk).exists()


def test_the_zip_has_the_finished_pictures_named_after_the_concept(user):
    subject = ready_subject(user)
    pack = make_pack(user, subject, size=3)
    rows = portraits(pack)
    finish_portrait(rows[0], colour=(1, 2, 3))
    finish_portrait(rows[2], colour=(4, 5, 6))
    with studio_selectors.pack_zip(studio_selectors.pack_get(owner=user, pack_id=pack.id)) as spool:
        archive = zipfile.ZipFile(io.BytesIO(spool.read()))
    assert archive.namelist() == ["studio-headshot-1.png", "studio-headshot-3.png"]
    assert Image.open(io.BytesIO(archive.read("studio-headshot-3.png"))).getpixel((0, 0)) == (4, 5, 6)


# ---- poses (admin) --------------------------------------------------------------------------------


def test_the_admin_extracts_a_pose_from_its_reference_photo(admin_client, admin_user):
    p = pose("waving")
    p.reference_photo.save("ref.jpg", ContentFile(image_bytes(Image.new("RGB", (80, 100), (9, 9, 9)))))
    response = admin_client.post(
        reverse("admin:studio_pose_changelist"), {"action": "extract_pose", "_selected_action": [p.pk]}
    )
    assert response.status_code == 302
    p.refresh_from_db()
    job = p.extraction_job
    assert (job.kind, job.owner_id, job.spec["inputs"]) == (
        "pose_extract",
        admin_user.pk,
        {"photo": p.reference_photo.name},
    )
    keypoints = [[0.5, 0.2 + i / 40, 1.0] for i in range(18)]
    result = PoseExtractResult(keypoints=keypoints, aspect=0.8, person_box=[0.0, 0.0, 80.0, 100.0], people=1)
    _succeed(job, result)
    p.refresh_from_db()
    assert p.keypoints == [[0.5, round(0.2 + i / 40, 4), 1.0] for i in range(18)]
    assert Pose.objects.get(slug="front").keypoints != p.keypoints, "only the pose it was started for"


def test_the_admin_validates_concepts_and_poses_and_draws_the_pose(admin_client):
    page = admin_client.get(reverse("admin:studio_pose_change", args=[pose("front").pk])).content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="pose-svg"' in page
    data = {
        "slug": "bad",
        "name_en": "Bad",
        "name_ko": "나쁨",
        "keypoints": "[[0.5, 0.5, 1.0]]",
        "aspect": "0.8",
        "sort_order": "0",
        "is_active": "on",
    }
    response = admin_client.post(reverse("admin:studio_pose_add"), data)
    assert response.status_code == 200
    assert "These keypoints are not a pose: a pose has 18 keypoints, not 1." in response.content.decode()
    assert not Pose.objects.filter(slug="bad").exists()
    from django.contrib.admin.sites import site

    from studio.admin import ConceptAdminForm

    form = ConceptAdminForm(
        data={
            "slug": "x",
            "name_en": "X",
            "name_ko": "X",
            "subject_kinds": "person",
            "prompt_template": "{subject} and {subject}",
            "steps": 30,
            "guidance": 7,
            "scheduler": "default",
            "control_scale": 0.8,
            "filter_strength": 0.2,
            "pack_size": 4,
            "sort_order": 0,
        }
    )
    assert not form.is_valid()
    assert form.errors["prompt_template"] == [
        "The prompt template must contain {subject} exactly once (it has it 2 times)."
    ]
    assert site.is_registered(Concept)


# ---- pages -----------------------------------------------------------------------------------------


@pytest.fixture
def web(logged_in_client):
    return logged_in_client


def test_a_subject_with_a_model_offers_a_pack_and_a_subject_without_one_does_not(web, user):
    waiting = accepted_subject(user, kind="person", name="Waiting")
    assert reverse("studio:pack_new", args=[waiting.id]) not in _page(web, reverse("studio:subject", args=[waiting.id]))
    response = web.get(reverse("studio:pack_new", args=[waiting.id]))
    assert response.status_code == 302
    ready = ready_subject(user, name="Mina")
    new_url = reverse("studio:pack_new", args=[ready.id])
    assert f'href="{new_url}"' in _page(web, reverse("studio:subject", args=[ready.id]))
    assert f'href="{new_url}"' in _page(web, reverse("studio:library"))
    assert f'href="{new_url}"' in _page(web, reverse("studio:model", args=[PersonalModel.objects.get().id]))


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["Make a profile pack", "Studio headshot", "Facing the camera", "Auto: warm (58 % sure)",
                "AI-generated pictures: not for passports or identity documents.", "Pictures in the pack"]),
        ("ko", ["프로필 팩 만들기", "스튜디오 프로필", "정면", "자동: 따뜻한 톤 (58% 확신)",
                "AI로 만든 사진이에요. 여권이나 신분증에는 쓸 수 없어요.", "팩에 담을 사진 수"]),
    ],
)  # fmt: skip
def test_the_pack_form_for_a_person_in_both_languages(web, user, language, expected):
    subject = ready_subject(user, readings=WARM)
    page = _page(web, reverse("studio:pack_new", args=[subject.id]), language)
    for text in expected:
        assert text in page, text
    assert page.count('class="concept-card"') == 4, "the four concepts for people"
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="pose-svg"') == 5
    assert 'name="instruction"' not in page, "words are for pets"
    assert 'value="4"' in page
    assert 'name="size"' in page


@pytest.mark.parametrize(
    ("language", "example"),
    [("en", "Wearing a yellow raincoat, jumping in puddles"), ("ko", "노란 우비를 입고 물웅덩이에서 첨벙첨벙")],
)
def test_the_pack_form_for_a_pet_asks_for_words_with_examples(web, user, language, example):
    subject = ready_subject(user, kind="dog")
    page = _page(web, reverse("studio:pack_new", args=[subject.id]), language)
    assert page.count('class="concept-card"') == 1
    assert 'name="instruction"' in page
    assert example in page
    assert 'class="pose-svg"' not in page


def test_the_form_makes_the_pack_and_its_page_shows_each_picture(web, user):
    subject = ready_subject(user)
    response = web.post(
        reverse("studio:pack_new", args=[subject.id]),
        {
            "concept": "business-profile",
            "pose": "hand-on-chin",
            "tone": "cool",
            "size": "2",
            "submission_id": str(uuid.uuid4()),
        },
    )
    pack = Pack.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("studio:pack", args=[pack.id])
    assert (pack.concept.slug, pack.pose.slug, pack.tone, pack.size) == ("business-profile", "hand-on-chin", "cool", 2)
    first, second = portraits(pack)
    finish_portrait(first)
    page = _page(web, reverse("studio:pack", args=[pack.id]))
    assert "AI-generated pictures: not for passports or identity documents." in page
    assert "1 of 2 pictures done" in page
    assert f'<img src="{reverse("studio:portrait_image", args=[first.job_id])}"' in page
    assert f'<img src="{reverse("studio:portrait_image", args=[second.job_id])}"' not in page
    assert 'id="cancel-pack"' in page
    assert 'id="download-zip"' in page
    state = web.get(reverse("studio:pack_state", args=[pack.id])).json()
    assert (state["total"], state["done"], state["finished"]) == (2, 1, False)
    assert [p["status"] for p in state["pictures"]] == ["succeeded", "queued"]
    assert state["pictures"][0]["image_url"] == reverse("studio:portrait_image", args=[first.job_id])
    assert state["pictures"][1]["image_url"] is None
    assert f'href="{reverse("studio:pack", args=[pack.id])}"' in _page(web, reverse("studio:library"))


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Pick one of the poses offered for this concept."),
        ("ko", "이 콘셉트에서 고를 수 있는 자세 중 하나를 골라 주세요."),
    ],
)
def test_a_bad_choice_is_an_error_next_to_its_field_and_nothing_is_made(web, user, language, message):
    subject = ready_subject(user)
    response = web.post(
        reverse("studio:pack_new", args=[subject.id]),
        {"concept": "fairy-tale", "pose": "arms-crossed", "tone": "auto", "size": "4"},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 400
    assert f'<p class="error" role="alert" id="pose-error">{message}</p>' in response.content.decode()
    assert not Pack.objects.exists()


def test_a_pack_that_does_not_fit_today_is_refused_with_what_is_left(web, user, settings):
    settings.STUDIO_DAILY_PORTRAITS = 3
    subject = ready_subject(user)
    response = web.post(
        reverse("studio:pack_new", args=[subject.id]), {"concept": "film-photo", "tone": "auto", "size": "4"}
    )
    assert response.status_code == 429
    assert "A pack of 4 pictures does not fit: you have 3 portraits left today." in response.content.decode()
    assert not Pack.objects.exists()


def test_favourite_download_zip_delete_and_more_from_the_pack_page(web, user):
    subject = ready_subject(user)
    pack = make_pack(user, subject, size=2)
    first, second = portraits(pack)
    finish_portrait(first)
    finish_portrait(second)
    web.post(reverse("studio:portrait_favourite", args=[first.job_id]), {"favourite": "1"})
    assert Portrait.objects.get(pk=first.pk).favourite is True
    assert 'aria-pressed="true"' in _page(web, reverse("studio:pack", args=[pack.id]))
    image = web.get(reverse("studio:portrait_image", args=[first.job_id]) + "?download=1")
    assert image.status_code == 200
    assert image["Cache-Control"] == "private, no-store"
    assert image["Content-Disposition"] == 'attachment; filename="studio-headshot-1.png"'
    archive = web.get(reverse("studio:pack_zip", args=[pack.id]))
    assert archive.status_code == 200
    assert archive["Content-Type"] == "application/zip"
    assert archive["Cache-Control"] == "private, no-store"
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert names == ["studio-headshot-1.png", "studio-headshot-2.png"]
    response = web.post(reverse("studio:pack_more", args=[pack.id]), {"submission_id": str(uuid.uuid4())})
    more = Pack.objects.exclude(pk=pack.pk).get()
    assert response["Location"] == reverse("studio:pack", args=[more.id])
    web.post(reverse("studio:portrait_delete", args=[first.job_id]))
    assert list(Portrait.objects.filter(pack=pack).values_list("index", flat=True)) == [2]
    response = web.post(reverse("studio:pack_delete", args=[pack.id]))
    assert response["Location"] == reverse("studio:subject", args=[subject.id])
    assert not Pack.objects.filter(pk=pack.pk).exists()


def test_other_peoples_packs_and_pictures_are_404(web, user, other_user):
    theirs = ready_subject(other_user)
    pack = make_pack(other_user, theirs, size=1)
    portrait = portraits(pack)[0]
    finish_portrait(portrait)
    for url in (
        reverse("studio:pack", args=[pack.id]),
        reverse("studio:pack_state", args=[pack.id]),
        reverse("studio:pack_zip", args=[pack.id]),
        reverse("studio:portrait_image", args=[portrait.job_id]),
        reverse("studio:pack_new", args=[theirs.id]),
    ):
        assert web.get(url).status_code == 404, url
    for url in (
        reverse("studio:pack_more", args=[pack.id]),
        reverse("studio:pack_cancel", args=[pack.id]),
        reverse("studio:pack_delete", args=[pack.id]),
        reverse("studio:portrait_favourite", args=[portrait.job_id]),
        reverse("studio:portrait_delete", args=[portrait.job_id]),
    ):
        assert web.post(url, {"favourite": "1"}).status_code == 404, url
    assert Pack.objects.count() == 1
    assert Portrait.objects.get().favourite is False


def test_the_pack_page_speaks_korean(web, user):
    subject = ready_subject(user, readings=WARM)
    pack = make_pack(user, subject, size=2)
    finish_portrait(portraits(pack)[0])
    page = _page(web, reverse("studio:pack", args=[pack.id]), "ko")
    for text in (
        "스튜디오 프로필",
        "사진 2장 중 1장 완성",
        "자동: 따뜻한 톤 (58% 확신)",
        "전체 내려받기 (zip)",
        "비슷하게 더 만들기",
        "AI로 만든 사진이에요. 여권이나 신분증에는 쓸 수 없어요.",
    ):
        assert text in page, text


# ---- the real thing: a pack of 2 through the real GPU worker (tiny models) ----------------------------


@pytest.mark.slow
def test_a_pack_of_two_through_the_real_gpu_worker(web, user, settings):
    from tests.test_studio_web import make_subject, photo_file, run_workers

    settings.STUDIO_TRAINING_STEPS = 2
    subject = make_subject(user, kind="person", name="Mina")
    web.post(reverse("studio:photos_add", args=[subject.id]), {"photos": [photo_file(seed) for seed in range(5)]})
    run_workers()
    assert SubjectPhoto.objects.filter(verdict="accepted").count() == 5
    web.post(reverse("studio:train", args=[subject.id]))
    run_workers()
    model = PersonalModel.objects.get()
    assert model.training.job.status == "succeeded"
    response = web.post(
        reverse("studio:pack_new", args=[subject.id]),
        {"concept": "studio-headshot", "pose": "front", "tone": "warm", "size": "2"},
    )
    pack = Pack.objects.get()
    assert response["Location"] == reverse("studio:pack", args=[pack.id])
    run_workers()
    rows = portraits(pack)
    for row in rows:
        assert row.job.status == "succeeded", (row.job.error_code, row.job.error_message)
        result: PortraitResult = job_selectors.job_result(job=row.job)
        assert (result.tone, result.seed) == ("warm", job_selectors.job_params(job=row.job).seed)
        image = web.get(reverse("studio:portrait_image", args=[row.job_id]))
        assert image["Cache-Control"] == "private, no-store"
        assert Image.open(io.BytesIO(b"".join(image.streaming_content))).format == "PNG"
    state = web.get(reverse("studio:pack_state", args=[pack.id])).json()
    assert (state["done"], state["finished"]) == (2, True)
    archive = web.get(reverse("studio:pack_zip", args=[pack.id]))
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert names == ["studio-headshot-1.png", "studio-headshot-2.png"]
    web.post(reverse("studio:subject_delete", args=[subject.id]))
    assert owner_files(user) == []
    assert GenerationJob.objects.count() == 0
