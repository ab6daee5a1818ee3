"""A config that selects its model on its test split is refused unless it says so explicitly."""
import pytest

from tagnet.cli import main
from tagnet.config import Config, list_configs, load_config, selection_on_test

OPT_IN = "train.allow_test_selection=true"


@pytest.mark.parametrize("name", list_configs())
def test_the_bundled_configs_never_select_on_their_test_split(name):
    cfg = load_config(name)
    assert selection_on_test(cfg) is None and not cfg.train.allow_test_selection


@pytest.mark.parametrize("name", ["headroom", "headroom_pan", "headroom_shake"])
def test_headroom_holdout_is_carved_from_train_and_tests_on_the_held_out_split(name):
    cfg = load_config(name)
    assert (cfg.train.select_on, cfg.data.train_split, cfg.data.test_split) == \
        ("holdout", "train", "val")
    assert cfg.data.holdout_fraction > 0


@pytest.mark.parametrize("config, overrides, keys", [
    ("gym99", ["train.select_on=val"],
     "train.select_on=val selects on data.val_split='val', which is also "
     "data.test_split='val'"),
    ("headroom", ["train.select_on=val"],
     "train.select_on=val selects on data.val_split='val', which is also "
     "data.test_split='val'"),
    ("demo", ["data.train_split=val"],
     "train.select_on=holdout selects on a holdout (data.holdout_fraction=0.125) of "
     "data.train_split='val', whose clips are also the test split (data.test_split='val')"),
    (None, ["data.dataset=csv", "data.val_split=dev", "data.test_split=test",
            "data.test_list=t.csv", "train.select_on=val"],
     "train.select_on=val selects on data.val_split='dev', but data.val_list is unset, so it "
     "reads data.test_list"),
])
def test_selection_on_the_test_split_is_refused_naming_the_keys(config, overrides, keys):
    with pytest.raises(ValueError) as exc:
        load_config(config, overrides)
    message = str(exc.value)
    assert message.startswith(keys + ": the model would be selected on the clips it is tested on")
    assert "train.allow_test_selection=true" in message and "train.select_on=holdout" in message
    cfg = load_config(config, [*overrides, OPT_IN])   # the explicit opt-in
    assert selection_on_test(cfg) == keys


def test_the_released_finegym_protocol_stays_reachable():
    for name in ("gym99", "gym288"):
        cfg = load_config(name, ["train.select_on=val", OPT_IN])
        assert cfg.train.select_on == "val" and cfg.data.val_split == cfg.data.test_split
    # HAA500 selects on val and tests on test: no opt-in needed
    assert load_config("haa500").train.select_on == "val"
    # csv lists: separate val and test lists pass
    assert selection_on_test(load_config(None, [
        "data.dataset=csv", "data.val_split=dev", "data.test_split=test",
        "data.val_list=v.csv", "data.test_list=t.csv", "train.select_on=val"])) is None


def test_train_refuses_before_anything_is_written(tmp_path):
    from tagnet.train.run import train

    cfg = Config.from_dict({"output_dir": str(tmp_path / "run"),
                            "train": {"select_on": "val"}})   # not validated yet
    with pytest.raises(ValueError, match="which is also data.test_split='val'"):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_tagnet_train_and_ablate_refuse_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["train", "--config", "gym99", "--select-on", "val", "-o", str(out)]) == 1
    assert "train.allow_test_selection=true" in capsys.readouterr().err
    assert main(["ablate", "--config", "headroom", "train.select_on=val", "-o", str(out)]) == 1
    assert "train.select_on=val selects on data.val_split='val'" in capsys.readouterr().err
    assert not out.exists()


def test_a_sweep_row_that_selects_on_the_test_split_stops_the_sweep_before_it_starts(
        tmp_path, monkeypatch):
    import tagnet.train.sweeps as sweeps
    from tagnet.train.experiment import Variant, run_sweep

    rows = [Variant("fine", []), Variant("released", ["train.select_on=val"])]
    monkeypatch.setattr(sweeps, "sweep_variants", lambda *args: rows)
    cfg = load_config("headroom", [f"data.root={tmp_path / 'data'}"])
    with pytest.raises(ValueError, match="train.select_on=val selects on data.val_split='val'"):
        run_sweep(cfg, "rows", None, [0, 1], tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()


def test_sweep_seeds_are_checked():
    with pytest.raises(ValueError, match=r"train.sweep_seeds=\[1, 1\] is invalid: it must be "
                                         "null or a list of distinct integers"):
        load_config("demo", ["train.sweep_seeds=[1, 1]"])
    assert load_config("demo", ["train.sweep_seeds=[3, 4]"]).train.sweep_seeds == [3, 4]
