"""The authors' released per-dataset configurations (PAPER.md section 3)."""
from __future__ import annotations

#: Values that define a preset; create_model refuses overrides that contradict them.
PRESETS: dict[str, dict] = {
    "haa500": dict(num_classes=500, num_frames=32, ffn_dim=512),
    "gym99": dict(num_classes=99, num_frames=64, ffn_dim=1024),
    "gym288": dict(num_classes=288, num_frames=64, ffn_dim=2048),
}

#: Preset keys that configure TAG-Head itself (other model families ignore them).
HEAD_PRESET_KEYS = ("ffn_dim",)

#: Training settings of the released code, per preset (used by the trainer's configs).
RELEASED_TRAINING: dict[str, dict] = {
    "haa500": dict(epochs=80, batch_size=8, lr=1e-5, optimizer="adam", scheduler="cosine"),
    "gym99": dict(epochs=60, batch_size=8, lr=1e-5, optimizer="adam", scheduler="cosine"),
    "gym288": dict(epochs=60, batch_size=8, lr=1e-5, optimizer="adam", scheduler="cosine"),
}


def list_presets() -> list[str]:
    return list(PRESETS)
