"""Configs: bundled presets, YAML round trip, typed dotted overrides, clear errors."""
import pytest
import yaml

from tagnet.config import Config, list_configs, load_config
from tagnet.models.presets import PRESETS, RELEASED_TRAINING


def test_bundled_configs_load():
    assert {"gym99", "gym288", "haa500", "demo"} <= set(list_configs())
    for name in list_configs():
        assert isinstance(load_config(name), Config)


@pytest.mark.parametrize("name", ["gym99", "gym288", "haa500"])
def test_presets_hold_the_released_hyperparameters(name):
    cfg = load_config(name)
    assert cfg.model.preset == name and cfg.model.arch == "tag_r2plus1d_34"
    assert cfg.data.num_frames == PRESETS[name]["num_frames"] and cfg.data.img_size == 112
    released = RELEASED_TRAINING[name]
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.lr, cfg.train.optimizer,
            cfg.train.scheduler) == (released["epochs"], released["batch_size"], released["lr"],
                                     released["optimizer"], released["scheduler"])
    assert cfg.train.weight_decay == 0 and cfg.train.label_smoothing == 0


def test_round_trip_through_yaml(tmp_path):
    cfg = load_config("gym99", ["train.lr=3e-5", "model.kwargs.K=10", "eval.topk=[1, 3]",
                                "data.root=/data/finegym", "train.clip_grad_norm=1"])
    cfg.save(tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again == cfg and again.to_dict() == cfg.to_dict()
    assert Config.from_dict(yaml.safe_load((tmp_path / "c.yaml").read_text())) == cfg


def test_overrides_are_typed():
    cfg = load_config(None, ["train.lr=1e-4", "train.epochs=3", "train.amp=true",
                             "train.clip_grad_norm=null", "model.freeze=2", "train.min_lr=0"])
    assert cfg.train.lr == 1e-4 and isinstance(cfg.train.lr, float)
    assert cfg.train.epochs == 3 and cfg.train.amp is True and cfg.train.clip_grad_norm is None
    assert cfg.model.freeze == "2" and cfg.train.min_lr == 0.0
    cfg.override(["model.kwargs={ffn_dim: 512}", "model.kwargs.K=4"])
    assert cfg.model.kwargs == {"ffn_dim": 512, "K": 4}


@pytest.mark.parametrize("item, message", [
    ("train.lrr=1", "unknown key 'train.lrr'; valid keys of train: epochs, batch_size, lr"),
    ("trian.lr=1", "unknown key 'trian'; valid keys: model, data, train, eval"),
    ("train.epochs=1.5", "train.epochs must be an int, got 1.5"),
    ("train.amp=maybe", "train.amp must be a bool"),
    ("train.lr=null", "train.lr may not be null"),
    ("train.optimizer=lamb", "train.optimizer='lamb' is not one of adam, adamw, sgd"),
    ("train", "not of the form key=value"),
])
def test_bad_overrides_raise_naming_the_key(item, message):
    with pytest.raises(ValueError) as exc:
        load_config(None, [item])
    assert message in str(exc.value)


def test_unknown_config_name_lists_the_bundled_ones():
    with pytest.raises(FileNotFoundError, match="bundled: atr_k400, atr_sthv1, atr_sthv2, demo, "
                                                "gym288, gym99, haa500"):
        load_config("gym100")


def test_an_override_replaces_exactly_what_it_names():
    cfg = load_config("demo")
    assert cfg.data.synth and cfg.model.kwargs["backbone_kwargs"]["stem_mid"] == 8
    # one entry deep inside a free-form mapping: its siblings stay
    cfg.override(["model.kwargs.backbone_kwargs.widths=[4, 8, 8, 16]"])
    assert cfg.model.kwargs["backbone_kwargs"] == {"widths": [4, 8, 8, 16], "stem_mid": 8}
    assert cfg.model.kwargs["ffn_dim"] == 128
    # a whole mapping: replaced, so a base config's entries can be dropped
    cfg.override(["model.kwargs={ffn_dim: 64}", "data.synth={}"])
    assert cfg.model.kwargs == {"ffn_dim": 64} and cfg.data.synth == {}
    # new nested entries are created; a section given as a mapping merges field by field
    cfg.override(["model.kwargs.backbone_kwargs.source=r2plus1d_tiny", "train={lr: 0.5}"])
    assert cfg.model.kwargs == {"ffn_dim": 64, "backbone_kwargs": {"source": "r2plus1d_tiny"}}
    assert cfg.train.lr == 0.5 and cfg.train.epochs == load_config("demo").train.epochs


def test_an_override_through_a_plain_value_raises():
    with pytest.raises(ValueError, match="train.lr is 1e-05, not a mapping"):
        load_config(None, ["train.lr.x=1"])
    with pytest.raises(ValueError, match="unknown key 'model.kwarg'"):
        load_config(None, ["model.kwarg.K=1"])
