"""The training engine: epochs of optimiser steps, validation, selection, checkpoints.

.. code-block:: text

    for epoch in [start, epochs):
        sampler.set_epoch(epoch); skip the steps a resumed run already did
        for each group of grad_accum batches:          (DDP: no_sync on all but the last)
            loss = CE(model(x), y, label_smoothing) summed / clips in the group
            backward (GradScaler with fp16 AMP on CUDA)
            [clip grad norm] -> optimiser step        -> every save_every_steps: last.pth
        scheduler.step()  (per epoch: cosine annealing as released)
        validate on the selection split -> best.pth when the score improves; last.pth
        judge convergence (tagnet.train.convergence) -> "converged" in the epoch record;
        with train.early_stop, stop at the first converged epoch
    a non-finite loss skips the update; more than train.nonfinite_patience in a row (default
    0) stop the run with NonFiniteError; non-finite weights are never saved or selected

Everything random is reproducible from the checkpoint: data order and
augmentation depend only on ``(seed, epoch, index)`` (:mod:`tagnet.train.sampling`)
and the global generators are saved with every checkpoint, so a killed run
resumed with :meth:`Trainer.load_state_dict` ends with the same weights, bit for
bit on CPU, as one that was never interrupted.
"""
from __future__ import annotations

import dataclasses
import math
import time
from contextlib import nullcontext
from itertools import islice
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from tagnet.config import Config
from tagnet.data import collate, dataset_labels, eval_loader
from tagnet.datasets import SkipSummary
from tagnet.distributed import DistInfo, all_reduce_sum, barrier
from tagnet.eval.inference import predict, unwrap
from tagnet.eval.metrics import classification_metrics
from tagnet.train.checkpoint import (
    capture_rng_state,
    restore_rng_state,
    save_checkpoint,
    versions,
)
from tagnet.train.convergence import ConvergenceRule, EpochRecord, trivial_loss
from tagnet.train.logger import RunLogger
from tagnet.train.optim import build_optimizer, build_scheduler
from tagnet.train.sampling import ResumableSampler, SeededDataset
from tagnet.weights import nonfinite_tensors

_HIGHER_IS_BETTER = {"top1": True, "mca": True, "loss": False}


class Trainer:
    """Trains one model on one dataset as a config says.

    Args:
        cfg (Config): the run's resolved config (``train`` section mostly).
        model (nn.Module): any classifier mapping clips ``(B, 3, T, H, W)`` to logits.
        train_set (Dataset): items ``(clip, label, meta)``; augmentation may be random.
        val_set (Dataset, optional): the selection split (``None``: keep the last epoch).
        class_names (list of str): stored in checkpoints.
        dist (DistInfo, optional): rank / world size / device (single CPU process).
        run_dir (str or Path, optional): where checkpoints and logs go (``cfg.output_dir``).
        val_name (str): the selection split's name in logs (``"holdout"``, ``"val"``).
    """

    def __init__(self, cfg: Config, model: nn.Module, train_set: Dataset,
                 val_set: Dataset | None, class_names: list[str], *,
                 dist: DistInfo | None = None, run_dir: str | Path | None = None,
                 val_name: str = "holdout", logger: RunLogger | None = None) -> None:
        t = cfg.train
        self.cfg, self.t = cfg, t
        self.dist = dist or DistInfo()
        self.device = self.dist.device
        self.run_dir = Path(run_dir or cfg.output_dir)
        self.class_names = list(class_names)
        self.val_name = val_name
        self.logger = logger or RunLogger(self.run_dir, self.dist.is_main, t.tensorboard)
        self.model = model.to(self.device)
        self.amp = t.amp and self.device.type == "cuda"
        if t.amp and not self.amp:
            self.logger.info("train.amp=true ignored: mixed precision is used on CUDA only")
        self.amp_dtype = getattr(torch, t.amp_dtype)
        self.optimizer = build_optimizer(self.model, t)
        self.scheduler = build_scheduler(self.optimizer, t)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and
                                           self.amp_dtype == torch.float16)
        self.net = self.model
        if self.dist.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if t.compile:  # checkpoints and evaluation keep using the eager self.model
            if self.device.type == "cpu":
                self.logger.info("train.compile=true on the CPU: the first epoch compiles "
                                 "(minutes) and later steps were not faster in our measure "
                                 "(docs/performance.md); leave it off on the CPU")
            self.net = torch.compile(self.net)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=t.label_smoothing, reduction="sum")
        self.train_data = SeededDataset(train_set, cfg.seed)
        self.sampler = ResumableSampler(self.train_data, self.dist.world_size, self.dist.rank,
                                        shuffle=True, seed=cfg.seed)
        self.val_loader = None if val_set is None else eval_loader(
            val_set, cfg.eval.batch_size, cfg.data.num_workers, self.dist)
        self.epoch = 0  # epochs completed
        self.step_in_epoch = 0  # optimiser steps done in the current epoch
        self.global_step = 0
        self.running = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, clips
        self.best: dict | None = None
        self.last_metrics: dict = {}
        self.skipped = SkipSummary()  # files the loader workers skipped (on_error="skip")
        self.bad_steps = 0  # consecutive steps with a non-finite loss (skipped)
        self._skips_logged: set[tuple[str, str]] = set()  # (split, path) with a "skip" record
        try:
            labels = dataset_labels(train_set)
        except TypeError:  # no labels without decoding: assume balanced classes
            labels = None
        self.rule = ConvergenceRule(t.converge_window, t.converge_tol, t.converge_fit,
                                    trivial_loss(labels, max(len(self.class_names), 1)),
                                    _HIGHER_IS_BETTER[t.select_metric], t.converge_loss_tol)
        self.history: list[EpochRecord] = []  # one per epoch done (the rule's input)
        self.converged_epoch: int | None = None  # start of the current converged stretch

    # ------------------------------------------------------------------ loop
    def steps_per_epoch(self) -> int:
        per_rank = self.sampler.num_samples
        steps = math.ceil(math.ceil(per_rank / self.t.batch_size) / self.t.grad_accum)
        return min(steps, self.t.max_steps_per_epoch or steps)

    def _train_loader(self, epoch: int) -> DataLoader:
        self.train_data.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.sampler.set_start(self.step_in_epoch * self.t.batch_size * self.t.grad_accum)
        g = torch.Generator().manual_seed(self.cfg.seed + epoch)
        return DataLoader(self.train_data, batch_size=self.t.batch_size, sampler=self.sampler,
                          num_workers=self.cfg.data.num_workers, collate_fn=collate,
                          generator=g, pin_memory=self.device.type == "cuda")

    def train_epoch(self, epoch: int) -> dict:
        """Run (the rest of) one epoch; returns mean train loss and top-1 over the epoch."""
        self.model.train()
        total = self.steps_per_epoch()
        it = iter(self._train_loader(epoch))
        bar = None
        if self.t.progress and self.dist.is_main:
            from tagnet.datasets.progress import progress

            bar = progress(total=total, initial=self.step_in_epoch, desc=f"epoch {epoch + 1}/"
                       f"{self.t.epochs}", leave=False, dynamic_ncols=True)
        while self.step_in_epoch < total:
            group = list(islice(it, self.t.grad_accum))
            if not group:
                break
            self._step(group, epoch, total)
            self.step_in_epoch += 1
            self.global_step += 1
            stats = self._epoch_stats()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{stats['train_loss']:.3f}",
                                acc=f"{100 * stats['train_top1']:.1f}")
            if self.t.log_every and self.global_step % self.t.log_every == 0:
                self.logger.log("step", step=self.global_step, epoch=epoch,
                                step_in_epoch=self.step_in_epoch,
                                lr=self.optimizer.param_groups[0]["lr"], **stats)
            if (self.t.save_every_steps and self.global_step % self.t.save_every_steps == 0
                    and self.step_in_epoch < total):
                self.save("last.pth")
        if bar is not None:
            bar.close()
        if self._log_skips("train", self.skipped.items(), epoch, "replaced by the next clip"):
            self.logger.info(f"training data: {self.skipped}; each was replaced by the next "
                             "clip of the list (log.jsonl has a 'skip' record per clip)",
                             skipped=len(self.skipped))
        return self._epoch_stats()

    def _log_skips(self, split: str, skips, epoch: int, action: str) -> int:
        """One ``"skip"`` record (split, path, reason) per clip not logged before; the count."""
        new = [(p, r) for p, r in skips if (split, p) not in self._skips_logged]
        for path, reason in new:
            self._skips_logged.add((split, path))
            self.logger.log("skip", split=split, path=path, reason=reason, epoch=epoch + 1,
                            action=action)
        return len(new)

    def _step(self, group: list, epoch: int = 0, total: int = 0) -> None:
        n_group = sum(len(b[1]) for b in group)
        stats = torch.zeros(3, dtype=torch.float64)
        finite, bad = True, float("nan")
        for i, batch in enumerate(group):
            x = batch[0].to(self.device, non_blocking=True)
            y = torch.as_tensor(batch[1]).long().to(self.device, non_blocking=True)
            sync = not self.dist.distributed or i == len(group) - 1
            with (nullcontext() if sync else self.net.no_sync()):
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                    logits = self.net(x)
                loss = self.criterion(logits.float(), y) / n_group
                self.scaler.scale(loss).backward()
            if isinstance(batch[2], dict) and "skipped" in batch[2]:
                self.skipped.update_from_meta(batch[2])
            value = loss.item()
            if finite and not math.isfinite(value):
                finite, bad = False, value
            stats += torch.tensor([value * n_group, (logits.argmax(1) == y).sum().item(),
                                   len(y)], dtype=torch.float64)
        if self.dist.distributed:  # every rank takes the same decision
            finite = all_reduce_sum(torch.tensor([float(not finite)]), self.dist).item() == 0
        if not finite:
            self.optimizer.zero_grad(set_to_none=True)
            self.bad_steps += 1
            if self.bad_steps > self.t.nonfinite_patience:
                self._diverged(f"the training loss is {bad} at step {self.global_step + 1} "
                               f"(epoch {epoch + 1}, step {self.step_in_epoch + 1} of {total})")
            self.logger.info(f"step {self.global_step + 1}: non-finite loss, update skipped "
                             f"({self.bad_steps} of train.nonfinite_patience="
                             f"{self.t.nonfinite_patience} in a row)")
            return
        self.bad_steps = 0
        self.running += stats
        if self.t.clip_grad_norm:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.t.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def _epoch_stats(self) -> dict:
        loss, correct, n = all_reduce_sum(self.running, self.dist).tolist()
        return {"train_loss": loss / max(n, 1), "train_top1": correct / max(n, 1)}

    def validate(self) -> dict:
        """Metrics of the current model on the selection split."""
        # the plain module, not DDP: ranks may hold different numbers of batches
        preds = predict(self.model, self.val_loader, self.device, amp=self.amp, dist=self.dist,
                        progress=self.t.progress and self.dist.is_main, desc=self.val_name)
        m = classification_metrics(preds.scores, preds.labels, len(self.class_names),
                                   self.cfg.eval.topk)
        m.pop("confusion")
        if self._log_skips(self.val_name, preds.skipped, self.epoch - 1, "left out"):
            self.logger.info(f"{self.val_name}: {len(preds.skipped)} clip(s) could not be "
                             "decoded and are left out of its metrics ('skip' records)")
        return {"loss": preds.loss, "num_skipped": len(preds.skipped), **m}

    @property
    def converged(self) -> bool | None:
        """Whether the run has converged at its last epoch (``None``: no selection split,
        convergence is not judged)."""
        return None if self.val_loader is None else self.converged_epoch is not None

    @property
    def stopped(self) -> bool:
        """``train.early_stop`` ended the run (it has converged)."""
        return self.t.early_stop and self.converged_epoch is not None

    def fit(self) -> dict:
        """Train from the current state to ``train.epochs`` (or until converged with
        ``train.early_stop``); returns ``{"best", "last", "converged", "converged_epoch"}``."""
        if self.val_loader is None and self.epoch == 0:
            self.logger.info("no selection split: convergence is not judged (converged: null)")
        while self.epoch < self.t.epochs and not self.stopped:
            epoch, start = self.epoch, time.time()
            lr = self.optimizer.param_groups[0]["lr"]
            stats = self.train_epoch(epoch)
            self.scheduler.step()
            self.epoch, self.step_in_epoch = epoch + 1, 0
            self.running.zero_()
            record = {"epoch": self.epoch, **stats, "lr": lr, "epoch_time": time.time() - start}
            improved = True
            if self.val_loader is not None:
                val = self.validate()
                record.update({f"val_{k}": v for k, v in val.items()}, val_split=self.val_name)
                improved = self._is_better(val)
            if improved:
                score = record.get(f"val_{self.t.select_metric}")
                self.best = {"epoch": self.epoch, "metric": self.t.select_metric, "value": score}
            self._judge(record, lr)
            self.last_metrics = record
            self.logger.log("epoch", step=self.global_step, **record)
            self.save("last.pth")
            if improved:
                self.save("best.pth")
        return {"best": self.best, "last": self.last_metrics, "converged": self.converged,
                "converged_epoch": self.converged_epoch}

    def _judge(self, record: dict, lr: float) -> None:
        """Append the epoch to the convergence history, apply the rule, add ``converged``
        and ``converged_epoch`` to ``record`` and say when the verdict changes."""
        score = record.get(f"val_{self.t.select_metric}", math.nan)
        self.history.append(EpochRecord(self.epoch, float(score), float(record["train_loss"]),
                                        lr / self.t.lr))
        if self.val_loader is None:
            record.update(converged=None, converged_epoch=None)
            return
        was = self.converged_epoch
        self.converged_epoch = (was or self.epoch) if self.rule.holds(self.history) else None
        record.update(converged=self.converged, converged_epoch=self.converged_epoch)
        metric = f"{self.val_name} {self.t.select_metric}"
        if was is None and self.converged_epoch is not None:
            first = self.history[self.rule.window_start(self.history)].epoch
            self.logger.info(
                f"converged at epoch {self.epoch}: the best {metric} rose by at most "
                f"train.converge_tol={self.t.converge_tol:g} over epochs {first}-{self.epoch} "
                f"(train.converge_window={self.t.converge_window:g} lr-weighted epochs), the "
                f"lowest training loss fell by at most train.converge_loss_tol="
                f"{self.t.converge_loss_tol:g} x {self.rule.trivial_loss:.3f} there, and "
                f"the training loss {record['train_loss']:.3f} is below "
                f"{1 - self.t.converge_fit:g} x {self.rule.trivial_loss:.3f} (class "
                "frequencies)" + ("; stopping (train.early_stop)" if self.t.early_stop else ""),
                epoch=self.epoch)
        elif was is not None and self.converged_epoch is None:
            self.logger.info(f"epoch {self.epoch}: no longer converged (the {metric} or the "
                             "training loss moved again)", epoch=self.epoch)

    def _diverged(self, what: str) -> None:
        """Stop the run: log and raise :class:`NonFiniteError` saying what is kept."""
        kept = [n for n in ("last.pth", "best.pth") if (self.run_dir / n).is_file()]
        msg = (f"training diverged: {what}; stopped. "
               + (f"{' and '.join(kept)} in '{self.run_dir}' "
                  f"{'keep' if len(kept) > 1 else 'keeps'} the last finite weights. "
                  if kept else "No checkpoint was written. ")
               + f"Lower train.lr (now {self.t.lr:g}), set train.clip_grad_norm, or skip up to "
               "N such steps with train.nonfinite_patience=N")
        self.logger.log("error", step=self.global_step, message=msg)
        raise NonFiniteError(msg)

    def _is_better(self, val: dict) -> bool:
        if not all(math.isfinite(v) for v in (val["loss"], val[self.t.select_metric])):
            return False  # a model with non-finite outputs is never the best
        if self.best is None or self.best["value"] is None:
            return True
        new, old = val[self.t.select_metric], self.best["value"]
        return new > old if _HIGHER_IS_BETTER[self.t.select_metric] else new < old

    # ----------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step, "running": self.running.clone(),
            "best": self.best, "metrics": _plain(self.last_metrics),
            "rng": capture_rng_state(), "config": self.cfg.to_dict(),
            "history": [dataclasses.asdict(r) for r in self.history],
            "class_names": self.class_names, "versions": versions(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a checkpoint of this run (weights, optimiser, schedule, RNG)."""
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") is not None and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.best = state["global_step"], state["best"]
        self.running = state["running"].clone().double()
        self.last_metrics = dict(state.get("metrics") or {})
        # checkpoints from before the convergence rule have no history: judged afresh
        self.history = [EpochRecord(**r) for r in state.get("history") or ()]
        self.converged_epoch = (self.rule.converged_since(self.history)
                                if self.val_loader is not None else None)
        restore_rng_state(state["rng"])

    def save(self, name: str) -> None:
        """Rank 0 writes ``<run_dir>/<name>`` atomically; every rank waits for it.

        Weights holding NaN or infinity are never written: the run stops instead
        (:class:`NonFiniteError`), and the previous checkpoint stays.
        """
        state = self.state_dict()  # every rank: capture_rng_state has no side effects
        bad = nonfinite_tensors(state["model"])
        if bad:
            self._diverged(f"the weights hold NaN or infinity after step {self.global_step} "
                           f"(e.g. {bad[0]})")
        if self.dist.is_main:
            save_checkpoint(state, self.run_dir / name)
        barrier(self.dist)


class NonFiniteError(RuntimeError):
    """The training loss or the weights became NaN or infinite."""


def _plain(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str, type(None)))}


__all__ = ["Trainer", "NonFiniteError"]
