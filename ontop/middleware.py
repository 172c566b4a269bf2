"""When Redis (queue, cache) is down, people get a clear "busy, try again" instead of a 500."""

from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

RETRY_AFTER_SECONDS = 30


class ServiceBusyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, RedisError):
            return None
        message = _("Our servers are busy right now. Please try again in a minute.")
        if request.path.startswith("/api/"):
            response = JsonResponse({"code": "service_busy", "message": message}, status=503)
        else:
            response = render(request, "503.html", {"message": message}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
