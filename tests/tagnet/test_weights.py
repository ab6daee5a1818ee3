"""Weights files of every known layout and wrapper, through the API and `tagnet eval/predict
--weights` (issue 17, item 1)."""
import json
import re

import pytest
import torch
import yaml

from tagnet import create_model
from tagnet.cli import main
from tagnet.weights import load_state_dict_file, load_weights

# a ~20k-parameter model on 8 x 32 x 32 clips (grid 1x2x2)
TINY = dict(num_frames=8, img_size=32, ffn_dim=16, num_heads=2,
            backbone_kwargs={"widths": [4, 8, 8, 16], "stem_mid": 4})


def tiny(seed, **kw):
    torch.manual_seed(seed)
    return create_model("tag_r2plus1d_tiny", **{"num_classes": 3, **TINY, **kw}).eval()


_STAGES = {"stem": 0, "layer1": 1, "layer2": 2, "layer3": 3, "layer4": 4}


def to_released(state):
    """tagnet keys -> the authors' released keys, written out independently of tagnet.weights."""
    out = {}
    for key, value in state.items():
        if key.startswith("backbone."):
            stage, rest = key[len("backbone."):].split(".", 1)
            out[f"backbone.{_STAGES[stage]}.{rest}"] = value
        elif key == "head.pos_embed.weight":
            out["pos_embedding"] = value
        elif key.startswith("head.encoder."):
            out["transformer." + key[len("head.encoder."):]] = value
        else:
            out[key.replace("head.norm.", "classifier.0.").replace("head.fc.", "classifier.1.")] \
                = value
    return out


@pytest.fixture(scope="module")
def reference():
    model = tiny(0)
    x = torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model, x, model(x)


def _write(tmp_path, name, obj):
    path = tmp_path / name
    if name.endswith(".safetensors"):
        from safetensors.torch import save_file
        save_file(obj, str(path))
    else:
        torch.save(obj, path)
    return path


LAYOUTS = {
    "plain.pth": (lambda s: s, "tagnet"),
    "model_state_dict.pth": (lambda s: {"model_state_dict": s, "epoch": 3}, "tagnet"),
    "state_dict.pth": (lambda s: {"state_dict": s}, "tagnet"),
    "model.pth": (lambda s: {"model": s, "optimizer": {}}, "tagnet"),
    "module_prefix.pth": (lambda s: {f"module.{k}": v for k, v in s.items()}, "tagnet"),
    "weights.safetensors": (lambda s: {k: v.contiguous() for k, v in s.items()}, "tagnet"),
    "released.pth": (to_released, "official"),
    "released_wrapped.pth": (lambda s: {"model_state_dict": {
        f"module.{k}": v for k, v in to_released(s).items()}}, "official"),
    "released.safetensors": (lambda s: {k: v.contiguous() for k, v in to_released(s).items()},
                             "official"),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_every_layout_and_wrapper_loads_strictly_with_the_same_logits(name, reference,
                                                                      tmp_path):
    model, x, logits = reference
    make, layout = LAYOUTS[name]
    path = _write(tmp_path, name, make(model.state_dict()))
    fresh = tiny(1)
    assert load_weights(fresh, path) == layout
    with torch.no_grad():
        assert torch.equal(fresh(x), logits)
    if layout == "tagnet":  # load_state_dict_file unwraps the same wrappers
        assert load_state_dict_file(path).keys() == model.state_dict().keys()


def test_a_file_of_no_known_layout_lists_the_layouts_tried(reference, tmp_path):
    model, _, _ = reference
    state = {k.replace("head.", "tag_head."): v for k, v in model.state_dict().items()}
    path = _write(tmp_path, "other.pth", state)
    with pytest.raises(ValueError) as err:
        load_weights(tiny(1), path)
    msg = str(err.value)
    assert "fits none of the weight layouts" in msg and "model_state_dict" in msg
    assert re.search(r"tagnet: \d+ missing \(head\.pos_embed\.weight, .*\), \d+ unexpected "
                     r"\(tag_head\.pos_embed\.weight", msg)
    assert "official: " in msg and "tag_head.pos_embed.weight" in msg


@pytest.mark.parametrize("kw,named", [
    (dict(num_classes=5), "classes: file 3, model 5"),
    (dict(ffn_dim=32), "FFN width: file 16, model 32"),
    (dict(num_frames=16), "tokens in the grid (T*H*W): file 4, model 8 (model grid 2x2x2)"),
])
def test_weights_of_another_configuration_name_the_mismatch(kw, named, reference, tmp_path):
    model, _, _ = reference
    path = _write(tmp_path, "w.pth", to_released(model.state_dict()))
    with pytest.raises(ValueError, match="is for another configuration") as err:
        load_weights(tiny(1, **kw), path)
    assert named in str(err.value)


def test_export_safetensors_then_eval_and_predict_through_weights(reference, tmp_path, capsys):
    from tagnet.datasets.finesynth import write_mp4
    from tagnet.datasets.synth import render

    model, _, _ = reference
    released = _write(tmp_path, "released.pth", {"model_state_dict": to_released(
        model.state_dict())})
    root = tmp_path / "videos"
    for label, name in enumerate(["a", "b", "c"]):
        (root / "val" / name).mkdir(parents=True)
        write_mp4(root / "val" / name / "x.mp4", render(label, seed=label, num_frames=8,
                                                        size=32))
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"arch": "tag_r2plus1d_tiny", "kwargs": {k: v for k, v in TINY.items()
                                                         if k not in ("num_frames", "img_size")}},
        "data": {"dataset": "folder", "root": str(root), "num_frames": 8, "img_size": 32,
                 "short_side": 32, "num_workers": 0},
        "device": "cpu"}))
    slim = tmp_path / "slim.safetensors"
    assert main(["export", "--weights", str(released), "--config", str(config),
                 "--format", "safetensors", "-o", str(slim)]) == 0
    assert "official layout" in capsys.readouterr().out
    fresh = tiny(2)
    assert load_weights(fresh, slim) == "tagnet"
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)

    preds = tmp_path / "preds.json"
    assert main(["predict", str(root / "val"), "--weights", str(slim), "--config",
                 str(config), "--json", str(preds), "--topk", "3"]) == 0
    got = json.loads(preds.read_text())
    # the same probabilities as the eval of the reference model on the same clips
    from tagnet.config import load_config
    from tagnet.inference import clip_tensor
    cfg = load_config(config)
    for item in got:
        with torch.no_grad():
            probs = model(clip_tensor(item["path"], cfg)[None]).softmax(1)[0]
        assert item["top"][0]["name"] == f"class_{int(probs.argmax())}"
        assert item["top"][0]["prob"] == pytest.approx(float(probs.max()), abs=1e-6)

    out = tmp_path / "eval"
    assert main(["eval", "--weights", str(released), "--config", str(config), "--split", "val",
                 "-o", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_samples"] == 3
    capsys.readouterr()
    assert main(["predict", str(root / "val"), "--weights", str(released), "--config",
                 str(config), "--num-classes", "5"]) == 1  # refused, naming the mismatch
    assert "classes: file 3, model 5" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_create_model_weights_is_the_two_call_path_in_one(name, reference, tmp_path):
    model, x, logits = reference
    make, layout = LAYOUTS[name]
    path = _write(tmp_path, name, make(model.state_dict()))
    torch.manual_seed(5)  # other initial weights than the reference's
    one_call = create_model("tag_r2plus1d_tiny", weights=path, **TINY).eval()
    assert one_call.head.num_classes == 3  # read from the file's classifier rows
    assert one_call.weights_layout == layout
    two_calls = tiny(5)
    load_weights(two_calls, path)
    with torch.no_grad():
        assert torch.equal(one_call(x), logits) and torch.equal(two_calls(x), logits)
    if name.endswith(".pth"):  # the same as an in-memory state dict, wrapped or not
        from_dict = create_model("tag_r2plus1d_tiny", weights=torch.load(path, weights_only=True),
                                 **TINY).eval()
        with torch.no_grad():
            assert torch.equal(from_dict(x), logits)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_every_weights_door_refuses_non_finite_tensors_naming_them(bad, reference, tmp_path):
    model, _, _ = reference
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["head.fc.bias"][1] = bad
    path = _write(tmp_path, "bad.safetensors", state)
    for load in (lambda: load_weights(tiny(1), path),
                 lambda: create_model("tag_r2plus1d_tiny", weights=path, **TINY)):
        with pytest.raises(ValueError, match=r"non-finite weights \(NaN or inf in head\.fc\.bias"):
            load()


def test_save_weights_is_atomic_and_refuses_non_finite(reference, tmp_path, monkeypatch):
    from tagnet.weights import save_weights

    model, _, _ = reference
    path = save_weights(model, tmp_path / "w.safetensors")
    before = path.read_bytes()
    broken = tiny(2)
    with torch.no_grad():
        broken.head.fc.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="head.fc.weight"):
        save_weights(broken, path)
    import safetensors.torch

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    with pytest.raises(OSError):
        save_weights(tiny(3), path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == \
        ["w.safetensors"]


@pytest.mark.parametrize("content", [b"\x93random bytes" * 300, b"PK\x03\x04not a zip", b""])
def test_bytes_that_are_not_weights_are_not_called_python_objects(content, tmp_path):
    """Issue 26: random bytes were 'Python objects' with advice to use weights_only=False."""
    path = tmp_path / "w.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError) as exc:
        load_state_dict_file(path)
    message = str(exc.value)
    assert "Python objects" not in message and "weights_only" not in message
    assert message.startswith(f"'{path}' is not a readable PyTorch weights file" if content
                              else f"weights file '{path}' is empty (0 bytes)")
