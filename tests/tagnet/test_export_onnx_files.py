"""`tagnet export --format onnx` writes one file when the weights fit, and a model with its
external data under the final names otherwise (issue 27); no temporary file is left."""
import functools

import pytest
import torch
import yaml

import tagnet.commands.export as export_command
from tagnet import create_model
from tagnet.cli import main

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

TINY = dict(num_classes=3, num_frames=8, img_size=32, ffn_dim=16, num_heads=2,
            backbone_kwargs={"widths": [4, 8, 8, 16], "stem_mid": 4})


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx_files")
    torch.manual_seed(0)
    model = create_model("tag_r2plus1d_tiny", **TINY).eval()
    torch.save(model.state_dict(), folder / "w.pth")
    kwargs = {k: v for k, v in TINY.items() if k not in ("num_classes", "num_frames", "img_size")}
    (folder / "tiny.yaml").write_text(yaml.safe_dump({
        "model": {"arch": "tag_r2plus1d_tiny", "kwargs": kwargs},
        "data": {"num_frames": 8, "img_size": 32}}))
    return model, folder / "w.pth", folder / "tiny.yaml"


def export(weights, out):
    _, path, config = weights
    return main(["export", "--weights", str(path), "--config", str(config), "--format", "onnx",
                 "-o", str(out)])


def logits_match(model, path):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    got = torch.from_numpy(session.run(None, {"video": x.numpy()})[0])
    with torch.no_grad():
        torch.testing.assert_close(got, model(x), rtol=0, atol=1e-4)


def test_a_small_model_is_one_onnx_file(weights, tmp_path, capsys):
    out = tmp_path / "out" / "m.onnx"
    assert export(weights, out) == 0
    assert f"wrote {out}: logits match eager" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.onnx"]
    proto = onnx.load(str(out), load_external_data=False)
    assert proto.graph.initializer
    assert not any(onnx.external_data_helper.uses_external_data(t)
                   for t in proto.graph.initializer)
    moved = tmp_path / "elsewhere.onnx"  # one file: it still runs after a move
    out.rename(moved)
    logits_match(weights[0], moved)


def test_a_large_model_keeps_its_data_beside_it_under_the_final_name(weights, tmp_path,
                                                                      monkeypatch, capsys):
    monkeypatch.setattr(export_command, "export_onnx",
                        functools.partial(export_command.export_onnx, external_data=True))
    out = tmp_path / "m.onnx"
    assert export(weights, out) == 0
    assert f"wrote {out} + {out}.data: logits match eager" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]
    proto = onnx.load(str(out), load_external_data=False)
    locations = {d.value for t in proto.graph.initializer for d in t.external_data
                 if d.key == "location"}
    assert locations == {"m.onnx.data"}
    logits_match(weights[0], out)
