"""benchmarks/gpu_check.py: its CPU-capable parts at tiny sizes, and make_results' GPU section."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import gpu_check  # noqa: E402
import make_results  # noqa: E402

CPU = torch.device("cpu")


def test_training_in_three_precisions_agrees_with_fp32():
    cfg = dict(gpu_check.QUICK, steps=1, warmup=0, propagation="auto")
    rows = {r["precision"]: r for r in gpu_check.check_training(cfg, CPU)}
    assert list(rows) == ["fp32", "amp_fp16", "amp_bf16"]
    for name, row in rows.items():
        assert "error" not in row, row
        assert row["clips_per_s"] > 0 and row["finite"] and row["propagation"] == "structured"
        if name != "fp32":
            assert row["top1_agreement"] == 1.0
            assert row["logits_max_abs_diff"] < (0.02 if name == "amp_fp16" else 0.1), row
            assert row["skipped_steps"] in (0, 1)
    assert rows["amp_bf16"]["skipped_steps"] == 0  # no GradScaler for bf16


def test_a_precision_that_cannot_run_is_reported_not_fatal():
    # torch's CPU CSR product has no float16/bfloat16 kernel: AMP with pyg-csr fails on CPU
    cfg = dict(gpu_check.QUICK, steps=1, warmup=0, propagation="pyg-csr")
    rows = gpu_check.check_training(cfg, CPU)
    assert "error" not in rows[0] and rows[0]["clips_per_s"] > 0
    assert all(r["error"].startswith("NotImplementedError") for r in rows[1:])


def test_every_propagation_method_is_timed_and_agrees():
    rows = gpu_check.check_propagation(dict(gpu_check.QUICK, repeats=1), CPU)
    timed = {r["method"] for r in rows if "median_ms" in r}
    assert {"pyg-edge", "release", "pyg-csr", "dense", "structured"} <= timed
    assert {r["mode"] for r in rows} == {"fwd", "fwd+bwd"}
    for r in rows:
        if "median_ms" in r:
            assert r["max_abs_diff_vs_pyg_edge"] < 1e-5 and r["median_ms"] > 0, r
        else:
            assert r["note"].startswith("skipped")


def test_dataloader_throughput_on_generated_h264_clips(tmp_path):
    rows = gpu_check.check_dataloader(dict(gpu_check.QUICK, clips=2, workers=[0, 1]), CPU,
                                      tmp_path)
    assert [r["workers"] for r in rows] == [0, 1]
    assert all(r["clips"] == 2 and r["clips_per_s_incl_start"] > 0 for r in rows)
    assert list(tmp_path.iterdir()) == []  # the generated clips are removed


def test_json_renders_in_results_and_gpu_figures_stay_pending(tmp_path):
    out = tmp_path / "gpu_check_cpu.json"
    assert gpu_check.main(["--cpu", "--quick", "--parts", "dataloader", "--workers", "0",
                           "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["benchmark"] == "gpu_check" and data["machine"]["device"] == "cpu"
    make_results.main(["--dir", str(tmp_path), "--out", str(tmp_path / "R.md")])
    text = (tmp_path / "R.md").read_text()
    assert "## GPU check: gpu_check_cpu.json (gpu_check.py), a CPU run: no GPU figures" in text
    assert "### dataloader" in text and "**Pending: no GPU" in text
    data["machine"].update(device="cuda:0", gpu="some GPU")
    (tmp_path / "gpu_check.json").write_text(json.dumps(data))
    make_results.main(["--dir", str(tmp_path), "--out", str(tmp_path / "R.md")])
    text = (tmp_path / "R.md").read_text()
    assert "## GPU check: gpu_check.json (gpu_check.py)\n" in text and "Pending" not in text


def test_cuda_request_without_cuda_is_a_clear_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    with pytest.raises(SystemExit):
        gpu_check.main([])
    assert "CUDA is not available here; use --cpu --quick" in capsys.readouterr().err


def test_every_graph_head_is_timed_in_every_precision():
    rows = gpu_check.check_graph_heads(dict(gpu_check.QUICK, repeats=1), CPU)
    heads = list(gpu_check.GRAPH_HEADS)
    assert [r["head"] for r in rows] == [h for h in heads for _ in gpu_check.PRECISIONS]
    by = {(r["head"], r["precision"]): r for r in rows}
    for r in rows:
        assert "error" not in r, r
        assert r.get("median_ms", 0) > 0 or r["note"].startswith("skipped"), r
    assert by["attention_topology=tag", "fp32"]["attention"] == "structured"  # CPU: no flex
    assert by["attention_topology=tag, dense", "fp32"]["attention"] == "dense"
    assert by["released", "fp32"]["attention"] is None
