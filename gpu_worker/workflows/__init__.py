"""Workflows: ordered stages that turn a JobSpec into a JobResult."""
