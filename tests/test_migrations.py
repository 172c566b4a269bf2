"""Rows written under contract v1 are rewritten to v2 by the migration, so old makeovers still render."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from generation import selectors
from generation.models import GenerationJob, Style
from gpu_worker.contract.desk_makeover import DeskParams

BEFORE = ("generation", "0004_engine_style_scopes_job_kind_optional_upload")
AFTER = ("generation", "0005_contract_v2_rows")

V1_RESULT_DATA = {
    "seed": 7,
    "steps": 4,
    "guidance": 7.0,
    "strength": 0.99,
    "prompt": "a plant",
    "negative_prompt": "blurry",
    "planner": "local",
    "planner_fallback_reason": None,
    "style": "cozy",
    "lora": None,
    "framing": {"original_size": [400, 300], "work_size": [192, 128]},
    "mask_coverage": 0.3,
    "perception_cached": False,
    "detections": [],
    "items": [{"label": "plant", "query_ko": "화분", "category": "plants", "placement": "left", "hotspot": None}],
}


@pytest.mark.django_db(transaction=True)
def test_v1_specs_and_results_become_v2_and_old_styles_stay_makeover_styles(user):
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    upload = old.get_model("generation", "Upload").objects.create(owner_id=user.pk, image="uploads/1/a.jpg")
    style = old.get_model("generation", "Style").objects.create(slug="old", name_en="Old", name_ko="옛날")
    job = old.get_model("generation", "GenerationJob").objects.create(
        owner_id=user.pk,
        upload=upload,
        kind="desk_makeover",
        status="succeeded",
        spec={
            "job_id": "x",
            "kind": "desk_makeover",
            "input_key": "uploads/1/a.jpg",
            "output_prefix": "results/1/x/",
            "params": {"seed": 7, "preferences": {"tone": "warm"}, "style": {"slug": "cozy"}},
            "version": 1,
        },
        result={
            "job_id": "x",
            "status": "succeeded",
            "outputs": [{"role": "result", "key": "results/1/x/result.png", "width": 8, "height": 6}],
            "error": None,
            "timings": {},
            "models": {},
            "data": V1_RESULT_DATA,
            "version": 1,
        },
    )
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([AFTER])
        # Then every later migration, so that today's models can read the rows.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        migrated = GenerationJob.objects.get(pk=job.pk)
        assert migrated.attempts == 1
        assert migrated.spec["inputs"] == {"photo": "uploads/1/a.jpg"}
        params: DeskParams = selectors.job_params(job=migrated)
        assert (params.seed, params.preferences.tone, params.style.slug) == (7, "warm", "cozy")
        assert selectors.job_result(job=migrated).items[0].query_ko == "화분"
        assert selectors.job_output_key(job=migrated, role="result") == "results/1/x/result.png"
        assert Style.objects.get(pk=style.pk).scopes == ["desk_makeover"]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
