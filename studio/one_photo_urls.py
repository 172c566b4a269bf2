"""The one-photo studio profile's pages (under /studio/one-photo/)."""

urlpatterns: list = []
