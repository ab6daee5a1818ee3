"""Deployment (issue 17, item 5): propagation="auto" by default, torch.compile without graph
breaks, `tagnet export` to torch.export and ONNX checked against eager, train.compile."""
import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tagnet import create_model
from tagnet.cli import main
from tagnet.models.head import TAGHead
from tagnet.propagation import GraphPropagation

TINY = dict(num_classes=3, num_frames=8, img_size=32, ffn_dim=16, num_heads=2,
            backbone_kwargs={"widths": [4, 8, 8, 16], "stem_mid": 4})


def test_auto_is_the_default_and_gives_the_released_pyg_results():
    torch.manual_seed(0)
    default = create_model("tag_r2plus1d_tiny", **TINY).double()
    released = create_model("tag_r2plus1d_tiny", propagation="pyg", **TINY).double()
    assert default.state_dict().keys() == released.state_dict().keys()
    released.load_state_dict(default.state_dict())
    prop = default.head.propagation
    assert prop.method == "auto" and prop.resolved_method() == "structured"
    assert GraphPropagation("tag").method == "auto"
    assert prop.extra_repr() == "topology='tag', K=2, alpha=0.1"  # as the released default
    x = torch.randn(2, 3, 8, 32, 32, dtype=torch.float64)
    default.eval(), released.eval()
    out, ref = default(x), released(x)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    out.square().sum().backward()
    ref.square().sum().backward()
    for (name, a), b in zip(default.named_parameters(), released.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_the_head_compiles_as_one_graph():
    head = TAGHead("4x2x2", 5, in_channels=16, num_heads=2, ffn_dim=32).eval()
    x = torch.randn(2, 16, 4, 2, 2)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(head)(x)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), \
        explained.break_reasons
    with torch.no_grad():
        compiled = torch.compile(head, backend="eager", fullgraph=True)
        torch.testing.assert_close(compiled(x), head(x), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny model's weights file and a config describing it."""
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = create_model("tag_r2plus1d_tiny", **TINY)
    torch.save({"model_state_dict": model.state_dict()}, folder / "w.pth")
    config = folder / "tiny.yaml"
    kwargs = {k: v for k, v in TINY.items() if k not in ("num_classes", "num_frames", "img_size")}
    config.write_text(yaml.safe_dump({"model": {"arch": "tag_r2plus1d_tiny", "kwargs": kwargs},
                                      "data": {"num_frames": 8, "img_size": 32}}))
    return model.eval(), folder / "w.pth", config


def _export(weights, fmt, out, *extra):
    _, path, config = weights
    return main(["export", "--weights", str(path), "--config", str(config), "--format", fmt,
                 "-o", str(out), *extra])


def test_export_pt2_round_trip_with_a_dynamic_batch(weights, tmp_path, capsys):
    model, _, _ = weights
    out = tmp_path / "m.pt2"
    assert _export(weights, "pt2", out) == 0
    assert "logits match eager within" in capsys.readouterr().out
    program = torch.export.load(str(out)).module()
    for batch in (1, 5):
        x = torch.randn(batch, 3, 8, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(program(x), model(x), rtol=0, atol=1e-4)


def test_export_onnx_round_trip_with_a_dynamic_batch(weights, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model, _, _ = weights
    out = tmp_path / "m.onnx"
    assert _export(weights, "onnx", out, "--opset", "18") == 0
    assert "logits match eager within" in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "video"
    for batch in (1, 4):
        x = torch.randn(batch, 3, 8, 32, 32)
        got = torch.from_numpy(session.run(None, {"video": x.numpy()})[0])
        with torch.no_grad():
            torch.testing.assert_close(got, model(x), rtol=0, atol=1e-4)
    assert _export(weights, "onnx", out, "--opset", "16") == 1
    assert "opset 17 or newer" in capsys.readouterr().err


def test_export_of_a_data_dependent_topology_says_what_exports(tmp_path, capsys):
    torch.manual_seed(0)
    model = create_model("tag_r2plus1d_tiny", topology="tag_knn", **TINY)
    path = tmp_path / "knn.pth"
    torch.save(model.state_dict(), path)
    config = tmp_path / "knn.yaml"
    kwargs = {k: v for k, v in TINY.items() if k not in ("num_classes", "num_frames", "img_size")}
    config.write_text(yaml.safe_dump({"model": {"arch": "tag_r2plus1d_tiny", "kwargs": {
        **kwargs, "topology": "tag_knn"}}, "data": {"num_frames": 8, "img_size": 32}}))
    assert main(["export", "--weights", str(path), "--config", str(config), "--format", "pt2",
                 "-o", str(tmp_path / "knn.pt2")]) == 1
    err = capsys.readouterr().err
    assert "topology 'tag_knn' with data-dependent edge sets ['knn_feature']" in err
    assert "Exportable: static topologies with propagation 'auto'/'structured'" in err
    assert not (tmp_path / "knn.pt2").exists()


def test_train_compile_runs_the_steps_under_torch_compile(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parent / "train"))
    from toy_run import toy_config, toy_data

    from tagnet.train.run import train

    compiled = []
    real = torch.compile

    def eager_compile(module, **kw):  # the eager backend: dynamo traces, no C++ toolchain
        compiled.append(type(module).__name__)
        return real(module, backend="eager", **kw)

    monkeypatch.setattr(torch, "compile", eager_compile)
    # SGD: Adam's first steps turn rounding noise on zero gradients into +-lr updates
    common = ("train.epochs=1", "model.kwargs.dropout=0.0", "train.max_steps_per_epoch=2",
              "train.optimizer=sgd")
    train(toy_config(str(tmp_path / "plain"), *common), data=toy_data(), evaluate_test=False)
    assert compiled == []
    train(toy_config(str(tmp_path / "compiled"), "train.compile=true", *common),
          data=toy_data(), evaluate_test=False)
    assert compiled == ["TAGNet"]
    a = torch.load(tmp_path / "plain" / "last.pth", weights_only=True)["model"]
    b = torch.load(tmp_path / "compiled" / "last.pth", weights_only=True)["model"]
    assert a.keys() == b.keys()  # the checkpoint holds the eager model's keys
    for key in a:  # two steps apart by float rounding only
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-4)

    def losses(run):
        lines = (tmp_path / run / "log.jsonl").read_text().splitlines()
        return [r["train_loss"] for r in map(json.loads, lines) if r["kind"] == "step"]

    assert len(losses("compiled")) == 2
    torch.testing.assert_close(losses("compiled"), losses("plain"), rtol=1e-5, atol=0)
