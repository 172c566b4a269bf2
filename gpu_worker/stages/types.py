from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the working image

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Detection:
        return cls(label=str(data["label"]), score=float(data["score"]), box=tuple(float(v) for v in data["box"]))

    def normalised(self, width: int, height: int) -> dict:
        x0, y0, x1, y1 = self.box
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "box": [round(x0 / width, 4), round(y0 / height, 4), round(x1 / width, 4), round(y1 / height, 4)],
        }
