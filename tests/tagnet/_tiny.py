"""Settings shared by the CLI tests: the 3-class, 8-frame, 32 px FineSynth benchmark and a
~20k-parameter model (each test adds its epochs and its own overrides)."""

TINY = [
    "data.synth={num_classes: 3, clips_per_class: 8, num_frames: 8, size: 32, seed: 0}",
    "data.num_frames=8", "data.img_size=32", "data.short_side=32",
    "model.kwargs.backbone_kwargs={widths: [4, 8, 8, 16], stem_mid: 4}",
    "model.kwargs.ffn_dim=16", "model.kwargs.num_heads=2", "data.holdout_fraction=0.2",
    "train.batch_size=6", "eval.batch_size=8", "train.progress=false",
]
