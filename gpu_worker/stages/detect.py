"""Detect things with Grounding DINO (transformers), prompted by the caller's list of English labels.

Labels are assigned from the model's own token logits: each query phrase scores as the best
of its tokens, and a box takes the best phrase. That is robust where the processor's decoded
text labels merge phrases.
"""

from __future__ import annotations

import torch
from PIL import Image

from gpu_worker.stages.types import Detection


def phrase_scores(detector, image: Image.Image, labels: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Run Grounding DINO once: (queries x labels) scores and (queries x 4) pixel boxes."""
    processor, model = detector.processor, detector.model
    text = ". ".join(labels) + "."
    inputs = processor(images=image, text=text, return_tensors="pt")
    inputs = to_model(inputs, model)
    with torch.inference_mode():
        outputs = model(**inputs)
    spans = _phrase_spans(inputs["input_ids"][0].tolist(), processor.tokenizer)
    if len(spans) != len(labels):
        raise ValueError(f"prompt tokenised into {len(spans)} phrases for {len(labels)} labels")
    probs = outputs.logits[0].float().sigmoid()  # (queries, text tokens)
    scores = torch.stack([probs[:, span].max(dim=1).values for span in spans], dim=1).cpu()
    cx, cy, w, h = outputs.pred_boxes[0].float().cpu().unbind(-1)
    width, height = image.size
    boxes = torch.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], -1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    return scores, boxes


def to_model(inputs, model) -> dict[str, torch.Tensor]:
    """Move a processor's tensors to the model's device; floating ones (pixel values) also to its
    dtype, which a half-precision model needs. Token ids and masks keep their integer types."""
    parameter = next(model.parameters())
    return {
        key: value.to(parameter.device, parameter.dtype) if value.is_floating_point() else value.to(parameter.device)
        for key, value in inputs.items()
    }


def clean_labels(labels) -> list[str]:
    return list(dict.fromkeys(label.strip().lower() for label in labels if label.strip()))


def detect(
    detector, image: Image.Image, labels: tuple[str, ...] | list[str], *, box_threshold: float, max_detections: int
) -> list[Detection]:
    """Every box above the threshold, labelled with its best-scoring phrase."""
    labels = clean_labels(labels)
    if not labels:
        return []
    scores, boxes = phrase_scores(detector, image, labels)
    best_scores, best = scores.max(dim=1)
    candidates = [
        Detection(label=labels[int(i)], score=float(s), box=tuple(float(v) for v in b))
        for s, i, b in zip(best_scores.tolist(), best.tolist(), boxes.tolist(), strict=True)
        if s >= box_threshold
    ]
    candidates = [d for d in candidates if d.area >= 4.0]
    return _suppress_overlaps(sorted(candidates, key=lambda d: -d.score))[:max_detections]


def _phrase_spans(input_ids: list[int], tokenizer) -> list[list[int]]:
    special = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    dot = tokenizer.convert_tokens_to_ids(".")
    spans: list[list[int]] = []
    current: list[int] = []
    for position, token in enumerate(input_ids):
        if token in special:
            continue
        if token == dot:
            if current:
                spans.append(current)
            current = []
        else:
            current.append(position)
    if current:
        spans.append(current)
    return spans


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _suppress_overlaps(detections: list[Detection], threshold: float = 0.6) -> list[Detection]:
    """Per-label non-maximum suppression (a handful of boxes: plain Python is enough)."""
    kept: list[Detection] = []
    for detection in detections:
        if all(k.label != detection.label or iou(k.box, detection.box) < threshold for k in kept):
            kept.append(detection)
    return kept
