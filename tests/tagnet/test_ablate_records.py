"""tagnet ablate: per-seed records in the JSON recompute the printed intervals and p-values;
the default seeds come from the config."""
import json

import numpy as np
import pytest
from scipy import stats as sps

from tagnet.cli import main
from tagnet.commands.ablate import sweep_seeds
from tagnet.config import load_config

TINY = ["data.synth.clips_per_class=4", "train.epochs=1"]  # the benchmark with headroom, tiny


def _exact_sign_flip(d):
    return sps.permutation_test((d, np.zeros_like(d)), lambda x, y, axis: np.mean(x - y, axis=axis),
                                permutation_type="samples", vectorized=True, n_resamples=np.inf
                                ).pvalue


def test_the_printed_table_is_recomputed_from_the_jsons_per_seed_values(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["ablate", "--config", "headroom", "--values", "B", "B+TE", "B+TE+IF-FC",
                 "--run-equivalent", "--no-noise-floor", "--seeds", "0", "1", "2", "3", "4",
                 "--quiet", "-o", str(out), f"data.root={tmp_path / 'data'}", *TINY]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "ablation.json").read_text())
    assert result["seeds"] == [0, 1, 2, 3, 4]

    top1: dict[str, dict[int, float]] = {}   # from the per-run records alone
    for r in result["records"]:
        top1.setdefault(r["variant"], {})[r["seed"]] = r["top1"]
    ref = top1["B"]
    contrasts = {}
    for name in ("B + TE", "B + TE + IF-FC"):
        x = np.array([top1[name][s] for s in sorted(ref)])
        y = np.array([ref[s] for s in sorted(ref)])
        d = x - y
        ci = sps.ttest_rel(x, y).confidence_interval(0.95) if d.std() > 0 else \
            type("CI", (), {"low": d.mean(), "high": d.mean()})  # scipy gives NaN for no spread
        contrasts[name] = (d.mean(), ci.low, ci.high, _exact_sign_flip(d))
    # Holm over the table's two contrasts, by hand
    (a, pa), (b, pb) = sorted(((n, c[3]) for n, c in contrasts.items()), key=lambda t: t[1])
    holm = {a: min(1, 2 * pa), b: max(min(1, 2 * pa), min(1, pb))}

    summary = {r["variant"]: r for r in result["summary"]}
    for name, (mean, low, high, p) in contrasts.items():
        row = summary[name]["top1"]
        assert (row["diff"], row["diff_low"], row["diff_high"]) == pytest.approx((mean, low, high))
        assert (row["p"], row["p_holm"]) == pytest.approx((p, holm[name]), rel=1e-12)
        assert summary[name]["seeds"] == [0, 1, 2, 3, 4]
        assert row["values"] == [top1[name][s] for s in range(5)]
        line = next(x for x in printed.splitlines() if x.startswith(f"| {name} "))
        cells = [c.strip() for c in line.strip("| ").split(" | ")]
        assert cells[2] == "100.0"  # the construction ceiling: a time code, no ceiling
        assert cells[4] == f"{100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"
        assert cells[5] == f"{p:.3g} ({holm[name]:.3g}) n.s."   # 5 seeds: never an effect
    assert "With n = 5 paired seeds the smallest possible two-sided p is 2/2^5 = 0.0625, so no " \
        "contrast can reach p < 0.05" in printed
    assert result["holm"] == {"alpha": 0.05, "contrasts": 2, "min_pairs": 5}
    # row B: no time code, no encoder, the mean: blind to frame order, 3 of 8 classes at most
    b = next(x for x in printed.splitlines() if x.startswith("| B "))
    assert [c.strip() for c in b.strip("| ").split(" | ")][2] == "37.5"
    assert summary["B"]["ceiling"] == 0.375 and "blind to frame order" in printed
    assert "ABOVE ITS CEILING" not in printed


def test_no_ceiling_column_where_no_row_has_a_ceiling(tmp_path, capsys):
    # under camera motion no twin is exact, so no row is bounded by construction: the table
    # has no ceiling column and no empty ceiling note (it had 'ceiling: ...: .' before)
    out = tmp_path / "pan"
    assert main(["ablate", "--config", "headroom_pan", "--values", "B", "B+TE",
                 "--no-noise-floor", "--seeds", "0", "1", "--quiet", "-o", str(out),
                 f"data.root={tmp_path / 'data'}", *TINY]) == 0
    printed = capsys.readouterr().out
    header = next(x for x in printed.splitlines() if x.startswith("| configuration"))
    assert [c.strip() for c in header.strip("| ").split(" | ")][:3] == \
        ["configuration", "top-1", "95% CI"]
    assert "ceiling:" not in printed and "ceiling |" not in printed
    result = json.loads((out / "ablation.json").read_text())
    assert all("ceiling" not in row for row in result["summary"])


def test_sweeps_default_to_ten_seeds_on_the_headroom_configs_and_five_elsewhere(capsys):
    for name in ("headroom", "headroom_pan", "headroom_shake"):
        assert sweep_seeds(None, load_config(name)) == list(range(10))
    for name in ("demo", "gym99", "haa500"):
        assert sweep_seeds(None, load_config(name)) == [0, 1, 2, 3, 4]
    assert sweep_seeds([7, 8], load_config("headroom")) == [7, 8]   # --seeds wins
    assert sweep_seeds(None, load_config("demo", ["train.sweep_seeds=[3, 9]"])) == [3, 9]
    with pytest.raises(SystemExit):
        main(["ablate", "--help"])
    assert "train.sweep_seeds, 0-9 on the headroom configs" in \
        " ".join(capsys.readouterr().out.split())


def test_a_run_saved_before_new_config_keys_is_still_reused(tmp_path):
    import yaml

    from tagnet.train.experiment import Variant, run_variant, variant_config

    base, variant, run = load_config("headroom"), Variant("B", ["model.kwargs.ablation=B"]), \
        tmp_path / "B" / "seed0"
    saved = variant_config(base, variant, 0, run).to_dict()
    for key in ("allow_test_selection", "sweep_seeds"):   # keys this config did not have yet
        del saved["train"][key]
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    (run / "record.json").write_text(json.dumps({"variant": "B", "seed": 0, "top1": 0.5}))
    assert run_variant(base, variant, 0, run, reuse=True) == \
        {"variant": "B", "seed": 0, "top1": 0.5, "reused": True, "run_dir": str(run)}
    saved["train"]["lr"] = 1.0                            # another config is still refused
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(ValueError, match="holds a run with another config"):
        run_variant(base, variant, 0, run, reuse=True)


def test_two_worker_processes_give_the_runs_of_one_process_at_one_thread(tmp_path, capsys):
    """-j 2 trains in two one-thread workers: each run equals the same run trained in the
    main process at one thread, bit for bit (results depend on the thread count only)."""
    import torch

    common = ["ablate", "--config", "headroom", "--values", "B+TE", "--no-noise-floor",
              "--seeds", "0", "1", "--quiet", f"data.root={tmp_path / 'data'}", *TINY]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main([*common, "-o", str(tmp_path / "one")]) == 0
    finally:
        torch.set_num_threads(threads)
    assert main([*common, "-o", str(tmp_path / "two"), "-j", "2"]) == 0
    assert "2 runs in 2 worker processes of one thread" in capsys.readouterr().out
    one, two = (json.loads((tmp_path / d / "ablation.json").read_text())["records"]
                for d in ("one", "two"))
    assert [r["threads"] for r in one + two] == [1, 1, 1, 1]
    assert [(r["seed"], r["top1"]) for r in one] == [(r["seed"], r["top1"]) for r in two]
    for seed in (0, 1):  # and the weights themselves
        a, b = (torch.load(tmp_path / d / "B_TE" / f"seed{seed}" / "last.pth",
                           weights_only=True)["model"] for d in ("one", "two"))
        assert all(torch.equal(a[k], b[k]) for k in a)
