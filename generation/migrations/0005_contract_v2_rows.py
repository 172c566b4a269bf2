"""Rewrite stored specs and results of contract v1 in v2's shape, so old makeovers keep rendering,
and give the styles that existed before scopes the only product there was.

v1 had one `input_key`; v2 has named inputs and the `on_start` callback. The desk makeover's params
and result kept their fields; the preview's params lose the preferences it never used.
"""

from django.db import migrations

ON_START = {"queue": "default", "function": "generation.tasks.gpu_job_started"}


def forwards(apps, schema_editor):
    # Every style that existed before products had scopes was a makeover style.
    apps.get_model("generation", "Style").objects.filter(scopes=[]).update(scopes=["desk_makeover"])
    GenerationJob = apps.get_model("generation", "GenerationJob")
    for job in GenerationJob.objects.filter(spec__version=1).iterator():
        spec = dict(job.spec)
        input_key = spec.pop("input_key", None)
        spec["inputs"] = {"photo": input_key} if input_key else {}
        spec["on_start"] = ON_START
        spec["version"] = 2
        params = dict(spec.get("params") or {})
        if spec.get("kind") == "preview":
            params = {"seed": int(params.get("seed") or 0)}
        spec["params"] = params
        job.spec = spec
        if job.result and job.result.get("version") == 1:
            job.result = {**job.result, "version": 2}
        job.save(update_fields=["spec", "result"])


class Migration(migrations.Migration):
    dependencies = [("generation", "0004_engine_style_scopes_job_kind_optional_upload")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
