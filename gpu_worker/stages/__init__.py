"""Stages of the GPU workflows, one file each, named after their task.

Each stage has one entry function with typed inputs; models come in as arguments (from the
registry), so stages are plain functions that fast CPU tests can call with tiny models.
"""
