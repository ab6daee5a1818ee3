"""Evaluation: metrics (top-k, MCA and mmaction2's variant), reports, figures, t-SNE.

Names are imported lazily, so ``import tagnet.eval`` stays cheap and free of cycles.
"""
from importlib import import_module

_EXPORTS = {
    "classification_metrics": "metrics", "confusion_matrix": "metrics",
    "topk_accuracy": "metrics", "mean_class_accuracy": "metrics",
    "mmaction2_mean_class_accuracy": "metrics", "per_class_accuracy": "metrics",
    "evaluate": "evaluate", "predict": "inference", "Predictions": "inference",
    "plot_confusion_matrix": "plots", "plot_training_curves": "plots", "plot_tsne": "tsne",
    "tsne_embed": "tsne",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
