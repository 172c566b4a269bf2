"""The one-photo studio profile's API endpoints (under /api/)."""

urlpatterns: list = []
