"""The progress stream's API entry: documents it in the OpenAPI schema, and answers it where no
async server runs (`manage.py runserver`, Django's test client) with the state now, once: the
browser's EventSource then reconnects after `retry:`, which is polling by another name."""

from __future__ import annotations

from dataclasses import asdict

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from generation import selectors
from ontop.events.snapshot import sse_event, sse_preamble

STREAM_DESCRIPTION = """\
Server-Sent Events (`text/event-stream`) with the job's live state, instead of polling.

- First event: the state now. Then one `state` event per change (progress, queue position,
  the final status); each `data:` is the same JSON object as a job's `state` elsewhere in the API.
- Lines starting with `:` are heartbeats (about every 15 s); ignore them.
- The stream ends after a `state` whose `status` is `succeeded`, `failed` or `cancelled`.
- Each event has an `id:`. Reconnect with `Last-Event-ID` (the stream tells clients to wait
  `retry:` ms first): the current state is sent only if it differs from that event's. A finished
  job that the client has already seen finish answers 204: do not reconnect.
- Authenticate with `Authorization: Token <key>` (or the website's session cookie).
"""


class AnyAcceptJson(DefaultContentNegotiation):
    """EventSource sends `Accept: text/event-stream`: errors are still the API's JSON, not a 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class JobEventsApi(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAcceptJson

    @extend_schema(
        operation_id="job_events",
        summary="Watch a job's progress (Server-Sent Events)",
        description=STREAM_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "Last-Event-ID",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="The id of the last event received, when reconnecting.",
            )
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The event stream.",
                examples=[
                    OpenApiExample(
                        "A running job",
                        value='retry: 3000\n\nid: 5f0c2a9d41e3b7aa\nevent: state\ndata: {"status":"running",'
                        '"status_label":"Running","stage":"painting","percent":40.0,...}\n\n',
                        media_type="text/event-stream",
                    )
                ],
            ),
            204: OpenApiResponse(description="The job had finished and the client has seen it: stop."),
        },
        tags=["jobs"],
    )
    def get(self, request, job_id):
        job = selectors.job_get(owner=request.user, job_id=job_id)
        _, event = sse_event(asdict(selectors.job_state(job=job)))
        response = HttpResponse(sse_preamble() + event, content_type="text/event-stream; charset=utf-8")
        response["Cache-Control"] = "no-store"
        return response
