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
