"""Training: configs to runs, with resumable checkpoints, DDP and JSONL logs.

.. code-block:: text

    tagnet.config.load_config --> train(cfg) --> Trainer.fit --> last.pth / best.pth
                                       |                           (checkpoint.py)
                 build_run_data (data.py)        tagnet.models.factory.build_model

Names are imported lazily, so ``import tagnet.train`` stays cheap and free of cycles.
"""
from importlib import import_module

_EXPORTS = {
    "train": "run", "seed_everything": "run", "Trainer": "engine",
    "save_checkpoint": "checkpoint", "build_run_data": "data", "RunLogger": "logger",
    "FolderLock": "lock", "FolderLockedError": "lock", "NonFiniteError": "engine",
    "RunExistsError": "run", "CheckpointWriteError": "checkpoint",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
