"""Bad values and malformed YAML: one line naming the key, or the file / override with the
line and column."""
import pytest

from tagnet.cli import main
from tagnet.config import load_config


@pytest.mark.parametrize("item, message", [
    ("train.batch_size=0", "train.batch_size=0 is invalid: it must be an integer >= 1"),
    ("train.epochs=0", "train.epochs=0 is invalid: it must be an integer >= 1"),
    ("train.epochs=-3", "train.epochs=-3 is invalid: it must be an integer >= 1"),
    ("train.lr=0", "train.lr=0.0 is invalid: it must be a finite number > 0"),
    ("train.lr=-1e-4", "train.lr=-0.0001 is invalid: it must be a finite number > 0"),
    ("train.lr=.nan", "train.lr=nan is invalid: it must be a finite number > 0"),
    ("train.lr=inf", "train.lr=inf is invalid: it must be a finite number > 0"),
    ("train.grad_accum=0", "train.grad_accum=0 is invalid"),
    ("eval.batch_size=0", "eval.batch_size=0 is invalid"),
    ("data.num_workers=-1", "data.num_workers=-1 is invalid: it must be an integer >= 0"),
    ("train.label_smoothing=1", "train.label_smoothing=1.0 is invalid: it must be a number in"),
    ("train.nonfinite_patience=-1", "train.nonfinite_patience=-1 is invalid"),
])
def test_out_of_range_values_name_the_key(item, message):
    with pytest.raises(ValueError) as exc:
        load_config("demo", [item])
    assert str(exc.value).startswith(message)


def test_the_bundled_configs_and_optional_keys_pass():
    for name in ("demo", "gym99", "gym288", "haa500"):
        load_config(name)
    load_config(None, ["train.max_steps_per_epoch=null", "train.clip_grad_norm=null",
                       "data.short_side=null", "train.lr=1e-5"])


@pytest.mark.parametrize("item, message", [
    ("train.lr={", "override 'train.lr={': malformed YAML at line 1, column 11: expected the "
                   "node content, but found '<stream end>'"),
    ("model.kwargs={a: b: c}", "override 'model.kwargs={a: b: c}': malformed YAML at line 1, "
                               "column 19: expected ',' or '}', but got ':'"),
])
def test_a_malformed_override_names_it_and_the_column(item, message):
    with pytest.raises(ValueError) as exc:
        load_config(None, [item])
    assert str(exc.value) == message


def test_a_malformed_file_names_it_the_line_and_the_column(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("name: x\ntrain:\n  lr: 1\n    epochs: 3\n")
    with pytest.raises(ValueError) as exc:
        load_config(str(path))
    assert str(exc.value) == (f"config file '{path}': malformed YAML at line 4, column 11: "
                              "mapping values are not allowed here")
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ValueError, match=f"config file '{path}' is not UTF-8 text \\(byte 0xe9 "
                                         "at offset 9\\)"):
        load_config(str(path))


def test_the_cli_prints_one_line(tmp_path, capsys):
    assert main(["train", "--config", "demo", "-o", str(tmp_path / "r"), "train.lr={"]) == 1
    err = capsys.readouterr().err
    assert err == ("tagnet train: error: override 'train.lr={': malformed YAML at line 1, "
                   "column 11: expected the node content, but found '<stream end>'\n")
    assert main(["demo", "--epochs", "-1", "-o", str(tmp_path / "d")]) == 1
    assert capsys.readouterr().err == ("tagnet demo: error: --epochs -1 is invalid: give 1 or "
                                       "more epochs per model\n")
    assert main(["demo", "--epochs", "0", "-o", str(tmp_path / "d")]) == 1
    assert not (tmp_path / "r").exists() and not (tmp_path / "d").exists()


def test_a_key_given_twice_is_an_error_naming_the_file_and_both_lines(tmp_path):
    """Issue 26: a second `train:` section silently replaced the first (lr, optimizer)."""
    path = tmp_path / "dup.yaml"
    path.write_text("name: x\ntrain:\n  lr: 0.1\n  optimizer: sgd\neval:\n  topk: [1]\n"
                    "train:\n  epochs: 2\n")
    with pytest.raises(ValueError) as exc:
        load_config(str(path))
    assert str(exc.value) == (f"config file '{path}': malformed YAML at line 7, column 1: key "
                              "'train' is given twice (first at line 2); the second would "
                              "silently replace the first: merge them into one")
    path.write_text("train:\n  lr: 0.1\n  lr: 0.2\n")  # inside a section too
    with pytest.raises(ValueError, match="line 3, column 3: key 'lr' is given twice \\(first "
                                         "at line 2\\)"):
        load_config(str(path))
    with pytest.raises(ValueError, match="key 'a' is given twice"):
        load_config(None, ["model.kwargs={a: 1, a: 2}"])
    # YAML's merge key may still be overridden by the mapping that uses it
    path.write_text("train:\n  <<: {lr: 0.1, epochs: 3}\n  lr: 0.2\n")
    cfg = load_config(str(path))
    assert (cfg.train.lr, cfg.train.epochs) == (0.2, 3)


@pytest.mark.parametrize("items, message", [
    (["eval.topk=[0]"], "eval.topk=[0] is invalid: it must be a non-empty list of distinct "
                        "integers >= 1"),
    (["eval.topk=[]"], "eval.topk=[] is invalid"),
    (["eval.topk=[1, 1]"], "eval.topk=[1, 1] is invalid"),
    (["eval.tsne_max_points=0"], "eval.tsne_max_points=0 is invalid: it must be an integer >= 4"),
    (["data.crop_scale=[2, 1]"], "data.crop_scale=[2, 1] is invalid: it must be [min, max]"),
    (["data.crop_scale=[0.5]"], "data.crop_scale=[0.5] is invalid"),
    (["data.crop_scale=[0, 1]"], "data.crop_scale=[0, 1] is invalid"),
    (["train.betas=[2, 0.999]"], "train.betas=[2, 0.999] is invalid: it must be two numbers in "
                                 "[0, 1)"),
    (["train.optimizer=sgd", "train.momentum=0"], "train.optimizer='sgd' with train.momentum=0 "
                                                  "is invalid: tagnet's SGD uses Nesterov"),
    (["train.optimizer=adamw", "train.lr=1e38"], "train.lr=1e+38 is invalid: it must be a "
                                                 "finite number in (0, 1e+10]"),
    (["data.std=[0.2, 0, 0.2]"], "data.std=[0.2, 0, 0.2] is invalid: it must be null or 3 "
                                 "numbers (one per RGB channel, each > 0)"),
    (["data.dataset=tokens"], "data.dataset='tokens' conflicts with data.synth={"),
    (["data.version=gym99"], "data.version='gym99' conflicts with data.synth={"),
    (["model.arch=tag_features"], "model.arch='tag_features' reads token grids, but data.synth="),
    (["data.synth={num_classes:3}"], "override data.synth: 'num_classes:3' is read as a key "
                                     "without a value; YAML needs a space after the colon: "
                                     "num_classes: 3"),
])
def test_values_and_dead_overrides_name_the_keys(items, message):
    """Issue 26: validated too late (after config.yaml was written) or with library text."""
    with pytest.raises(ValueError) as exc:
        load_config("demo", items)
    assert str(exc.value).startswith(message), str(exc.value)


def test_the_same_keys_pass_with_sound_values():
    cfg = load_config("demo", ["eval.topk=[1, 3]", "eval.tsne_max_points=4",
                               "data.crop_scale=[0.3, 1]", "train.betas=[0, 0.99]",
                               "train.optimizer=sgd", "train.momentum=0.9", "train.lr=10",
                               "data.std=[0.2, 0.2, 0.2]", "data.version=finesynth"])
    assert cfg.eval.topk == [1, 3] and cfg.train.optimizer == "sgd"
    # without data.synth the dataset is the user's to choose
    load_config("demo", ["data.synth={}", "data.dataset=tokens", "model.arch=tag_features"])
    for name in ("headroom", "headroom_pan", "headroom_shake"):  # synth + tokens + features
        load_config(name)
