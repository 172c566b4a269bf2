"""Seed the load test's people: N signed-in users, each with a running makeover (and its RQ record,
as the GPU worker leaves it while it paints) and a short history. Bulk inserts: 500 people take
seconds, not 500 sign-ups. Prints the people as JSON lines: session key, job id, RQ job id.

Run inside the stack's environment (tools/loadtest/run.py does): python tools/loadtest/seed.py N
"""

from __future__ import annotations

import copy
import json
import os
import sys
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ontop.settings")

import django

django.setup()

import django_rq  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.utils import timezone  # noqa: E402
from rq.job import Job, JobStatus  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402

from generation import services as job_services  # noqa: E402
from generation.dispatch import rq_job_ids  # noqa: E402
from generation.models import GenerationJob, Upload  # noqa: E402
from gpu_worker.contract import GPU_JOB_FUNCTION  # noqa: E402
from makeovers.services import makeover_create  # noqa: E402
from tests.photos import make_desk_photo  # noqa: E402

HISTORY = 4  # finished jobs per person, besides the running one


def seed(count: int) -> list[dict]:
    user_model = get_user_model()
    password = make_password("load-test-password")  # one hash for everyone: hashing is the slow part
    users = user_model.objects.bulk_create(
        [user_model(username=f"load{n:04d}", email=f"load{n:04d}@example.com", password=password) for n in range(count)]
    )
    first = users[0]
    upload = job_services.upload_create(owner=first, file=SimpleUploadedFile("desk.jpg", make_desk_photo()))
    template = makeover_create(owner=first, upload=upload, seed=1)
    uploads = Upload.objects.bulk_create(
        [Upload(owner=u, image=upload.image.name, width=upload.width, height=upload.height) for u in users[1:]]
    )
    uploads = [upload, *uploads]
    now = timezone.now()
    jobs, running = [], []
    for user, photo in zip(users, uploads, strict=True):
        for index in range(HISTORY + 1):
            job = copy.copy(template)
            job.pk = template.pk if (user, index) == (first, 0) else uuid.uuid4()
            job._state.adding = True
            job.owner, job.upload, job.submission_id = user, photo, None
            job.spec = json.loads(json.dumps(template.spec).replace(str(template.pk), str(job.pk)))
            if index == 0:
                job.status, job.started_at = GenerationJob.Status.RUNNING, now
                running.append(job)
            else:  # finished ones: succeeded (they give the typical duration for the ETA), failed, cancelled
                job.status = [GenerationJob.Status.SUCCEEDED, GenerationJob.Status.FAILED][index % 2]
                if index == HISTORY:
                    job.status, job.error_code = GenerationJob.Status.CANCELLED, "cancelled"
                elif job.status == GenerationJob.Status.FAILED:
                    job.error_code = "internal"
                job.finished_at = now - timedelta(hours=index)
                job.started_at = job.finished_at - timedelta(seconds=40)
            if job.pk != template.pk:
                jobs.append(job)
    GenerationJob.objects.bulk_create(jobs, batch_size=1000)
    GenerationJob.objects.filter(pk=template.pk).update(status=GenerationJob.Status.RUNNING, started_at=now)

    # Each running job's RQ record as a GPU worker leaves it while painting: started, no progress yet.
    connection = django_rq.get_connection("default")
    connection.delete("rq:queue:gpu")  # the template's own enqueue: no worker runs in the load test
    pipe = connection.pipeline(transaction=False)
    for job in running:
        rq_job = Job.create(
            GPU_JOB_FUNCTION,
            args=[job.spec],
            id=rq_job_ids(str(job.pk))[0],
            connection=connection,
            serializer=JSONSerializer,
            result_ttl=3600,
        )
        rq_job.set_status(JobStatus.STARTED, pipeline=pipe)
        rq_job.started_at = now
        rq_job.save(pipeline=pipe)
    pipe.execute()

    sessions = []
    for user in users:
        store = SessionStore()
        key = store._get_new_session_key()
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        sessions.append(Session(session_key=key, session_data=store.encode(data), expire_date=now + timedelta(days=1)))
    Session.objects.bulk_create(sessions)
    return [
        {"session": session.session_key, "job": str(job.pk), "rq_job": rq_job_ids(str(job.pk))[0]}
        for session, job in zip(sessions, running, strict=True)
    ]


if __name__ == "__main__":
    for person in seed(int(sys.argv[1])):
        print(json.dumps(person))
