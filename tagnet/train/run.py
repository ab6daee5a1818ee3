"""``train(cfg)``: one whole run from a config, as ``tagnet train`` does it.

.. code-block:: text

    init torch.distributed (torchrun) -> seed -> datasets -> model -> Trainer
      [-> load checkpoint to resume] -> fit -> best.pth on the test split -> report

Only rank 0 writes, and only after taking the folder's lock: ``config.yaml`` (the
resolved config), ``log.jsonl``, ``last.pth``, ``best.pth`` and ``test/`` (metrics
JSON, per-class CSV, predictions CSV, confusion matrix).
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import torch

from tagnet.config import Config
from tagnet.distributed import barrier, cleanup_distributed, init_distributed
from tagnet.models.factory import build_model
from tagnet.train.checkpoint import check_resumable
from tagnet.train.data import RunData, build_run_data
from tagnet.train.engine import Trainer
from tagnet.train.lock import FolderLock
from tagnet.train.logger import RunLogger
from tagnet.weights import load_checkpoint


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed torch, numpy and python.

    CPU kernels are deterministic for a fixed thread count, which is what makes a
    resumed CPU run bit-identical. ``deterministic`` additionally asks for
    deterministic CUDA kernels (slower; warnings where none exist, e.g. scatter).
    It is not applied on CPU-only runs, where it only costs time (PyTorch then
    also fills every new tensor with NaN).
    """
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)
    if deterministic and torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.utils.deterministic.fill_uninitialized_memory = False
        torch.backends.cudnn.benchmark = False


#: Files that make a folder hold a run (written by :func:`train`).
RUN_FILES = ("config.yaml", "log.jsonl", "last.pth", "best.pth")
#: What ``overwrite`` deletes: the run files, the sweep record, their temporary files, and in
#: ``test/`` the report files and in ``tb/`` TensorBoard's event files. Nothing else: a
#: file of the user's, in the run folder or in its sub-folders, is kept.
_RUN_OUTPUTS = (*RUN_FILES, "record.json", "config.yaml.tmp", "last.pth.tmp", "best.pth.tmp",
                "record.json.tmp")
_RUN_FOLDERS = {"test": None, "tb": "events.out.tfevents.*"}  # None: the eval report files


class RunExistsError(ValueError):
    """The output folder already holds a run and neither resume nor overwrite was asked."""


def check_output_dir(run_dir: str | Path, resume=None, overwrite: bool = False) -> None:
    """Refuse to start a new run in a folder that holds one, unless resuming or overwriting,
    and an output folder that is a file."""
    from tagnet.datasets.atomic import check_output_folder

    run_dir = check_output_folder("output_dir", run_dir)
    found = [n for n in RUN_FILES if (run_dir / n).exists()]
    if not found or resume is not None or overwrite:
        return
    how = (f"continue it with `tagnet train --resume {run_dir}`, " if "last.pth" in found
           else "it has no checkpoint to resume from; ")
    raise RunExistsError(f"'{run_dir}' already holds a run ({', '.join(found)}): {how}start "
                         "it afresh with --overwrite (deletes its checkpoints, log and test "
                         "results), or choose another output folder")


def clear_run(run_dir: str | Path) -> list[str]:
    """Delete what a run wrote in ``run_dir`` (nothing else); returns the names deleted.

    A sub-folder (``test/``, ``tb/``) loses only the files a run writes there, and is
    removed when that leaves it empty; a file the user put there is kept, with the folder.
    """
    from tagnet.datasets.atomic import TMP_SUFFIX, temporary_name
    from tagnet.eval.evaluate import REPORT_FILES

    run_dir, gone = Path(run_dir), []
    for name in _RUN_OUTPUTS:
        if (run_dir / name).is_file():
            (run_dir / name).unlink()
            gone.append(name)
    for name, pattern in _RUN_FOLDERS.items():
        folder = run_dir / name
        if not folder.is_dir() or folder.is_symlink():
            continue
        if pattern is None:
            names = {n for f in REPORT_FILES for n in (f, temporary_name(f).name,
                                                       temporary_name(f, True).name)}
            files = [folder / n for n in sorted(names)]
        else:
            files = sorted(folder.glob(pattern)) + sorted(folder.glob(pattern + TMP_SUFFIX))
        for f in files:
            if f.is_file() and not f.is_symlink():
                f.unlink()
                gone.append(f"{name}/{f.name}")
        try:
            folder.rmdir()  # only when nothing of the user's is left in it
        except OSError:
            pass
    return gone


def train(cfg: Config, resume: str | Path | None = None, *, data: RunData | None = None,
          evaluate_test: bool = True, overwrite: bool = False) -> dict:
    """Train (or resume) a run; returns ``{"best", "last", "converged", "converged_epoch",
    "test", "run_dir", "parameters"}``.

    ``converged`` (bool, ``None`` without a selection split) and ``converged_epoch`` (the
    epoch from which the run counts as converged, else ``None``) follow the rule of
    :mod:`tagnet.train.convergence` (``train.converge_*``); they are also in every epoch
    record of ``log.jsonl`` and in ``test/metrics.json``.

    The run folder is locked for the run (:class:`~tagnet.train.lock.FolderLock`: a second
    process gets an error naming this one). A folder that already holds a run is refused
    unless ``resume`` or ``overwrite`` is given, and nothing is written in it before the
    config is validated and the data and model are built.

    Args:
        cfg (Config): the resolved config.
        resume (str or Path, optional): a checkpoint (or run folder) of this run.
        data (RunData, optional): prebuilt datasets (else built from ``cfg.data``).
        evaluate_test (bool): evaluate ``best.pth`` on the test split at the end.
        overwrite (bool): start afresh in a folder holding a run, deleting its outputs.

    Raises:
        RunExistsError: ``output_dir`` holds a run, and neither ``resume`` nor ``overwrite``.
        FolderLockedError: another process is writing to ``output_dir``.
        NonFiniteError: the loss or the weights became NaN or infinite.
    """
    cfg.validate()
    run_dir = Path(cfg.output_dir)
    dist = init_distributed(cfg.device)
    lock = FolderLock(run_dir) if dist.is_main else None
    try:
        if lock is not None:
            lock.acquire()
        check_output_dir(run_dir, resume, overwrite)
        barrier(dist)  # every rank has looked before rank 0 deletes or writes anything
        seed_everything(cfg.seed, cfg.train.deterministic)
        data = data or build_run_data(cfg)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        model = build_model(cfg, len(data.class_names))
        if dist.is_main and overwrite and resume is None and clear_run(run_dir):
            print(f"--overwrite: deleted the previous run in '{run_dir}'", file=sys.stderr)
        logger = RunLogger(run_dir, dist.is_main, cfg.train.tensorboard)
        trainer = Trainer(cfg, model, data.train, data.select, data.class_names, dist=dist,
                          run_dir=run_dir, val_name=data.select_name, logger=logger)
        if dist.is_main:
            cfg.save(run_dir / "config.yaml")
        n_params = sum(p.numel() for p in model.parameters())
        logger.info(f"{cfg.model.arch}: {n_params:,} parameters; {len(data.train)} training "
                    f"clips, {len(data.class_names)} classes; selection on {data.select_name}; "
                    f"{dist.world_size} process(es) on {dist.device}",
                    parameters=n_params, world_size=dist.world_size,
                    train_clips=len(data.train), select_split=data.select_name)
        if cfg.train.select_on == "val" and data.select_name == data.test_name:
            logger.info(f"selecting the model on '{data.select_name}', which is also the test "
                        "split: the released protocol, whose test score is optimistic; the "
                        "default train.select_on=holdout selects on a part of the train list")
        if resume is not None:
            state = load_checkpoint(resume)
            check_resumable(state, resume)
            if list(state["class_names"]) != data.class_names:
                raise ValueError(f"checkpoint '{resume}' was trained on other classes; "
                                 "resume with the dataset it was trained on")
            trainer.load_state_dict(state)
            logger.info(f"resumed from '{resume}' at epoch {trainer.epoch}, step "
                        f"{trainer.step_in_epoch} of the next")
        result = trainer.fit()
        if result["converged"] is False:
            logger.info(f"not converged after {trainer.epoch} epochs (train.converge_window="
                        f"{cfg.train.converge_window:g}, converge_tol={cfg.train.converge_tol:g}"
                        f", converge_loss_tol={cfg.train.converge_loss_tol:g}): the selection "
                        "metric or the training loss was still moving, or the training loss is "
                        "near that of predicting the class frequencies; train longer "
                        "(train.epochs) or see log.jsonl", converged=False)
        result["run_dir"] = str(run_dir)
        result["parameters"] = n_params
        if evaluate_test and data.test is not None:
            result["test"] = evaluate_best(cfg, trainer, data, dist)
            logger.log("test", split=data.test_name, **result["test"])
        logger.close()
        return result
    finally:
        if lock is not None:
            lock.release()
        cleanup_distributed()


def evaluate_best(cfg: Config, trainer: Trainer, data: RunData, dist) -> dict:
    """Load the reported checkpoint (``eval.checkpoint``: ``best.pth``, or ``last.pth`` as
    the release reports Gym288) into the trainer's model and evaluate it on the test split.

    ``metrics.json`` says what produced the number: ``protocol`` (``tagnet`` or the
    :mod:`tagnet.protocols` name) with ``protocol_deviations`` (keys the run changed from the
    protocol), the checkpoint and its epoch, and the model's own record (an ATR model's
    distribution form and switches, :meth:`~tagnet.models.atr_models.ATRNet.run_record`).
    """
    from tagnet.eval.evaluate import evaluate
    from tagnet.eval.inference import unwrap
    from tagnet.protocols import protocol_deviations

    best = Path(cfg.output_dir) / f"{cfg.eval.checkpoint}.pth"
    model = unwrap(trainer.model)
    state = load_checkpoint(best)
    model.load_state_dict(state["model"])
    epoch = (trainer.best if cfg.eval.checkpoint == "best"
             else getattr(trainer, "last_metrics", None)) or {}
    record = getattr(model, "run_record", None)
    metrics, _ = evaluate(
        model, data.test, data.class_names, out_dir=Path(cfg.output_dir) / "test",
        batch_size=cfg.eval.batch_size, num_workers=cfg.data.num_workers, device=dist.device,
        dist=dist, topk=cfg.eval.topk, tsne=cfg.eval.tsne,
        tsne_max_points=cfg.eval.tsne_max_points, title=f"{cfg.name} ({data.test_name})",
        extra={"split": data.test_name, "checkpoint": str(best), "epoch": epoch.get("epoch"),
               "converged": trainer.converged, "converged_epoch": trainer.converged_epoch,
               "protocol": cfg.protocol or "tagnet",
               "protocol_deviations": protocol_deviations(cfg.to_dict()),
               **(record() if callable(record) else {})})
    return metrics


__all__ = ["train", "seed_everything", "evaluate_best", "check_output_dir", "clear_run",
           "RunExistsError", "RUN_FILES"]
