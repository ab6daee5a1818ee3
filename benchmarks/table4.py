"""Table 4 (the paper's ablation rows) on the benchmarks with headroom, converged recipe.

One ``tagnet ablate`` sweep of the rows B, B + TE, B + TE + IF-FC, B + TE + TAT and the full
head per setting, every row compared with B + TE (paired by seed, Holm over the table);
finished runs are reused (a sweep resumes an interrupted run from its last checkpoint), and
every run's record is committed to ``benchmarks/table4.json`` so that each interval and
p-value of the tables can be recomputed from the repository alone:

    setting  config           seeds  noise floor
    still    headroom         0-9    yes (the full head computed two ways, paired by seed)
    pan      headroom_pan     0-4    no (the head and training are still's)
    shake    headroom_shake   0-4    no

Rows whose models compute the same pooled features as an earlier row are listed as
"= B + TE" and not trained (``tagnet ablate``'s equivalence check). Each run trains until its
holdout score has converged (``train.early_stop``, at most 60 epochs) and records whether it
did; 8-12 s for B (it never converges and runs the whole budget) and 45-100 s for a
head on one idle core.

Example:
    OMP_NUM_THREADS=1 python benchmarks/table4.py --root runs/table4            # everything
    python benchmarks/table4.py --settings still --seeds 0 1 train.epochs=2      # a smoke run
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import (
    add_override_args,
    command_line,
    machine_info,
    run_ablate,
    sweep_entry,
    write_json,
)

FIVE = ["0", "1", "2", "3", "4"]
#: name -> (config, seeds (None: the config's train.sweep_seeds), extra ablate arguments)
SETTINGS: dict[str, tuple[str, list[str] | None, list[str]]] = {
    "still": ("headroom", None, []),
    "pan": ("headroom_pan", FIVE, ["--no-noise-floor"]),
    "shake": ("headroom_shake", FIVE, ["--no-noise-floor"]),
}


def run_setting(name: str, root: Path, seeds: list[str] | None, overrides: list[str]) -> dict:
    config, own_seeds, extra = SETTINGS[name]
    seeds = seeds or own_seeds  # --seeds replaces the setting's own seeds
    return run_ablate(["--config", config, "--reference", "B + TE", *overrides, *extra,
                       *(["--seeds", *seeds] if seeds else [])], root / name, f"setting {name}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_override_args(parser, "runs/table4")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS),
                        help="settings to run (default: all three)")
    parser.add_argument("--seeds", nargs="+", help="training seeds for every setting (default: "
                        "the config's train.sweep_seeds, 0-9, and 0-4 under camera motion)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("table4.json")))
    args = parser.parse_args(argv)
    out = Path(args.out)
    done = json.loads(out.read_text())["settings"] if out.is_file() else {}
    for name in dict.fromkeys(args.settings):
        result = run_setting(name, Path(args.root), args.seeds, args.overrides)
        done[name] = sweep_entry(result, config=SETTINGS[name][0])
        write_json(out, {"benchmark": "table4", "command": command_line(),
                         "machine": machine_info("cpu"), "overrides": args.overrides,
                         "settings": done})


if __name__ == "__main__":
    main()
