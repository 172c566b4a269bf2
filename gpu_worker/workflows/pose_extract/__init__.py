"""Pose extraction (an admin tool): the body pose of the person in a reference photo, as OpenPose keypoints."""

from gpu_worker.workflows.pose_extract import workflow  # noqa: F401 - registers the workflow
