"""Hostile use of every command (issue 26): each attempt below is refused with a non-zero exit
and one line on stderr naming the path or key (never a traceback), and no file that existed
before changes (hashes of the whole folder before and after; nothing is added either).

One tiny trained run, its data and the hostile inputs are made once for the module.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from _tiny import TINY

from tagnet.cli import describe_error, main

PROGRESS = re.compile(r"^\S+: +\d+% .*(it/s|s/it)\]$")  # a progress bar, not a message
BAD_MODULE = "import tagnet\n\ndef broken(:\n    pass\n"
DUPLICATE = ("name: dup\ntrain:\n  lr: 0.1\n  optimizer: sgd\neval:\n  topk: [1]\n"
             "train:\n  epochs: 2\n")  # a second train section, at line 7


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    """The world every attempt runs in: a trained run, its data and hostile inputs."""
    from tagnet.datasets import make_finesynth

    root = tmp_path_factory.mktemp("hostile")
    synth = make_finesynth(root / "data", num_classes=3, clips_per_class=8, num_frames=8,
                           size=32, progress=False)
    run = root / "run"
    assert main(["train", "--config", "demo", f"data.root={synth.root}", *TINY,
                 "train.epochs=1", "-o", str(run)]) == 0
    video = root / "x.mp4"
    shutil.copy(next(synth.root.rglob("*.mp4")), video)
    os.link(video, root / "x_link.mp4")  # the same file under another name
    os.link(run / "best.pth", root / "best_link.pth")
    small = root / "small.safetensors"
    assert main(["export", "-k", str(run), "-f", "safetensors", "-o", str(small)]) == 0
    rng = __import__("random").Random(0)
    (root / "random.pth").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    (root / "classes.txt").write_bytes("a\nb\nc\u00e9\n".encode("latin-1"))
    (root / "ann.json").write_bytes('{"v\u00e9": {}}'.encode("latin-1"))
    (root / "dup.yaml").write_text(DUPLICATE)
    (root / "hostile_bad_module.py").write_text(BAD_MODULE)
    (root / "notes.txt").write_text("a user's file\n")
    (root / "folder").mkdir()
    (root / "videos").mkdir()
    (root / "previous.pt2").write_bytes(b"a previous export")
    locked = root / "locked"
    locked.mkdir()
    (locked / ".tagnet.lock").write_bytes(b"\x00garbage\xff")
    (root / "evalout").mkdir()
    (root / "evalout" / "confusion.png").write_bytes(b"the previous figure")
    return SimpleNamespace(root=root, run=run, video=video, synth=synth, small=small)


def tree(root: Path) -> dict[str, str]:
    """Every file (hash) and folder under ``root``."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if "__pycache__" in rel:
            continue
        out[rel] = hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "folder"
    return out


def _train(*extra):
    return lambda w: ["train", "--config", "demo", f"data.root={w.synth.root}", *TINY,
                      *extra, "-o", str(w.root / "new_run")]


def _disk_full_in_pil(monkeypatch, w):
    """PIL's PNG writer hits a full disk half way (matplotlib writes PNGs through PIL)."""
    import PIL.Image

    def save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError(28, "No space left on device", str(fp))

    monkeypatch.setattr(PIL.Image.Image, "save", save)


def _disk_full_in_safetensors(monkeypatch, w):
    import safetensors
    import safetensors.torch

    def save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half")
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left "
                                          "on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)


# (id, argv from the world, exit code, what the one line must say, patch, files that may change)
ATTEMPTS = [
    # no output onto an input: same name, hard links, another output of the run
    ("annotate-onto-video", lambda w: ["predict", str(w.video), "-k", str(w.run), "--window",
                                       "0.3", "--annotate", str(w.video)],
     1, r"--annotate '.*x\.mp4' is the input video: writing it would destroy that input"),
    ("json-onto-video", lambda w: ["predict", str(w.video), "-k", str(w.run), "--json",
                                   str(w.video)], 1, r"--json '.*x\.mp4' is the input video"),
    ("json-onto-hard-link", lambda w: ["predict", str(w.video), "-k", str(w.run), "--json",
                                       str(w.root / "x_link.mp4")],
     1, r"--json '.*x_link\.mp4' is the input video '.*x\.mp4'"),
    ("annotate-onto-checkpoint", lambda w: ["predict", str(w.video), "-k", str(w.run / "best.pth"),
                                            "--window", "0.3", "--annotate",
                                            str(w.run / "best.pth")],
     1, r"--annotate '.*best\.pth' is --checkpoint"),
    ("annotate-onto-window-table", lambda w: ["predict", str(w.video), "-k", str(w.run),
                                              "--window", "0.3", "--out-dir", str(w.root / "pr"),
                                              "--annotate", str(w.root / "pr" / "x.windows.csv")],
     1, r"--annotate and the window output of '.*x\.mp4' both write"),
    ("export-onto-checkpoint", lambda w: ["export", "-k", str(w.run / "best.pth"), "-f", "pt2",
                                          "-o", str(w.run / "best.pth")],
     1, r"--output '.*best\.pth' is --checkpoint"),
    ("export-onto-hard-link", lambda w: ["export", "-k", str(w.run), "-f", "safetensors",
                                         "-o", str(w.root / "best_link.pth")],
     1, r"--output '.*best_link\.pth' is --checkpoint '.*run/best\.pth'"),
    ("export-onto-weights", lambda w: ["export", "--weights", str(w.small), "--config",
                                       str(w.run / "config.yaml"), "-f", "safetensors",
                                       "-o", str(w.small)],
     1, r"--output '.*small\.safetensors' is --weights"),
    ("export-negative-atol", lambda w: ["export", "-k", str(w.run), "-f", "pt2", "--atol", "-1",
                                        "-o", str(w.root / "previous.pt2")],
     2, r"argument --atol: must be a finite number >= 0, got -1"),
    # outputs that name a folder, or folders that name a file
    ("json-is-a-folder", lambda w: ["predict", str(w.video), "-k", str(w.run), "--json",
                                    str(w.root / "folder")],
     1, r"--json '.*folder' is a folder; give a file name"),
    ("export-to-a-folder", lambda w: ["export", "-k", str(w.run), "-f", "pt2",
                                      "-o", str(w.root / "folder") + "/"],
     1, r"--output '.*folder' is a folder"),
    ("train-out-is-a-file", lambda w: ["train", "--config", "demo", *TINY,
                                       f"data.root={w.synth.root}", "-o",
                                       str(w.root / "notes.txt")],
     1, r"output_dir '.*notes\.txt' is a file, not a folder"),
    ("eval-out-is-a-file", lambda w: ["eval", "-k", str(w.run), "-o", str(w.root / "notes.txt")],
     1, r"--output '.*notes\.txt' is a file, not a folder"),
    ("predict-out-dir-is-a-file", lambda w: ["predict", str(w.video), "-k", str(w.run),
                                             "--window", "0.3", "--out-dir",
                                             str(w.root / "notes.txt")],
     1, r"--out-dir '.*notes\.txt' is a file, not a folder"),
    ("prepare-out-is-a-file", lambda w: ["prepare", "finegym", "--videos", str(w.root / "videos"),
                                         "--annotations", str(w.root / "ann.json"), "--out",
                                         str(w.root / "notes.txt")],
     1, r"--out '.*notes\.txt' is a file, not a folder"),
    ("ablate-out-is-a-file", lambda w: ["ablate", "-o", str(w.root / "notes.txt"), "--seeds",
                                        "0", "1"],
     1, r"--output '.*notes\.txt' is a file, not a folder"),
    ("extract-out-is-a-file", lambda w: ["extract", "--backbone", "r2plus1d_tiny", "--dataset",
                                         "folder", "--root", str(w.root / "folder"), "--out",
                                         str(w.root / "notes.txt")],
     1, r"output folder '.*notes\.txt' is a file, not a folder"),
    # a failed write keeps the previous file
    ("eval-report-disk-full", lambda w: ["eval", "-k", str(w.run), "-o", str(w.root / "evalout")],
     1, r"'.*evalout/confusion\.png': No space left on device; the disk is full",
     _disk_full_in_pil,
     {"evalout/metrics.json", "evalout/per_class.csv", "evalout/predictions.csv"}),
    ("export-safetensors-disk-full", lambda w: ["export", "-k", str(w.run), "-f", "safetensors",
                                                "-o", str(w.small)],
     1, r"safetensors: .*No space left.*; the disk is full", _disk_full_in_safetensors),
    # bounds before work
    ("window-1e-9", lambda w: ["predict", str(w.video), "-k", str(w.run), "--window", "1e-9"],
     1, r"window 1e-09 s is shorter than one frame of '.*x\.mp4' \(0\.04 s at 25 fps\)"),
    ("window-count", lambda w: ["predict", str(w.video), "-k", str(w.run), "--window", "0.04",
                                "--stride", "0.04", "--max-windows", "3"],
     1, r"makes 8 windows, more than the limit of 3 \(--max-windows\)"),
    ("frames-per-video", lambda w: ["predict", str(w.video), "-k", str(w.run), "--num-clips",
                                    "100000"],
     1, r"100000 clip\(s\) x 1 crop\(s\) x 8 frames = 800,000 frames per video, more than the "
        r"limit of 10,000"),
    ("topology-grid-too-large", lambda w: ["topology", "tag", "--grid", "1000x100x100"],
     1, r"grid 1000x100x100 with topology 'tag' has 10,000,000 nodes .* over the limit of "
        r"50,000,000; use a smaller grid"),
    # configuration: duplicate keys, dead overrides, values checked before anything is written
    ("duplicate-yaml-key", lambda w: ["train", "--config", str(w.root / "dup.yaml"),
                                      "-o", str(w.root / "new_run")],
     1, r"config file '.*dup\.yaml': malformed YAML at line 7, column 1: key 'train' is given "
        r"twice \(first at line 2\)"),
    ("dataset-under-synth", _train("data.dataset=tokens", "model.arch=tag_features"),
     1, r"data\.dataset='tokens' conflicts with data\.synth=.*drop data\.synth \(data\.synth="
        r"\{\}\)"),
    ("arch-reads-tokens", _train("model.arch=tag_features"),
     1, r"model\.arch='tag_features' reads token grids, but data\.synth=.* generates FineSynth "
        r"videos; drop data\.synth"),
    ("topk-0", _train("eval.topk=[0]"), 1, r"eval\.topk=\[0\] is invalid"),
    ("topk-empty", _train("eval.topk=[]"), 1, r"eval\.topk=\[\] is invalid"),
    ("tsne-max-points-0", _train("eval.tsne_max_points=0"), 1,
     r"eval\.tsne_max_points=0 is invalid: it must be an integer >= 4"),
    ("crop-scale-2-1", _train("data.crop_scale=[2,1]"), 1, r"data\.crop_scale=\[2, 1\] is invalid"),
    ("betas-2", _train("train.betas=[2,0.999]"), 1, r"train\.betas=\[2, 0\.999\] is invalid"),
    ("sgd-momentum-0", _train("train.optimizer=sgd", "train.momentum=0"), 1,
     r"train\.optimizer='sgd' with train\.momentum=0 is invalid"),
    ("adamw-lr-1e38", _train("train.optimizer=adamw", "train.lr=1e38"), 1,
     r"train\.lr=1e\+38 is invalid: it must be a finite number in \(0, 1e\+10\]"),
    ("mapping-without-space", _train("data.synth={num_classes:3}"), 1,
     r"'num_classes:3' is read as a key without a value; YAML needs a space after the colon"),
    ("eval-topk-override", lambda w: ["eval", "-k", str(w.run), "eval.topk=[0]", "-o",
                                      str(w.root / "evalout")],
     1, r"eval\.topk=\[0\] is invalid"),
    ("overwrite-and-resume", lambda w: ["train", "--resume", str(w.run), "--overwrite"],
     1, r"--overwrite starts the run afresh and --resume continues it: give one of them"),
    # files the user gives
    ("weights-for-another-arch", lambda w: ["predict", str(w.video), "--weights", str(w.small),
                                            "--config", str(w.run / "config.yaml"), "--arch",
                                            "tag_r2plus1d_18"],
     1, r"model tag_r2plus1d_18 does not take an option that --config .*config\.yaml gives it "
        r"\(.*'widths'\)"),
    ("weights-random-bytes", lambda w: ["predict", str(w.video), "--weights",
                                        str(w.root / "random.pth"), "--config",
                                        str(w.run / "config.yaml")],
     1, r"'.*random\.pth' is not a readable PyTorch weights file"),
    ("classes-not-utf8", lambda w: ["predict", str(w.video), "--weights", str(w.small),
                                    "--config", str(w.run / "config.yaml"), "--classes",
                                    str(w.root / "classes.txt")],
     1, r".*classes\.txt:3: not UTF-8 text \(byte 0xe9 at column 2\)"),
    ("annotations-not-utf8", lambda w: ["prepare", "finegym", "--videos", str(w.root / "videos"),
                                        "--annotations", str(w.root / "ann.json"), "--out",
                                        str(w.root / "prepared")],
     1, r".*ann\.json: not UTF-8 text \(byte 0xe9 at offset 3\)"),
    ("garbage-lock", lambda w: ["train", "--config", "demo", f"data.root={w.synth.root}", *TINY,
                                "-o", str(w.root / "locked")],
     1, r"has a lock file .*\.tagnet\.lock that tagnet did not write or cannot read"),
    ("user-module-syntax-error", lambda w: ["topology", "check", "tag", "--import",
                                            "hostile_bad_module"],
     1, r"cannot import module 'hostile_bad_module' given to --import: invalid syntax \(.*"
        r"hostile_bad_module\.py, line 3\)", lambda monkeypatch, w: monkeypatch.syspath_prepend(
            str(w.root))),
    ("missing-module", lambda w: ["topology", "tag", "--grid", "2x2x2", "--import",
                                  "no_such_module_xyz"],
     1, r"no_such_module_xyz"),
]


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a[0] for a in ATTEMPTS])
def test_a_hostile_attempt_is_one_line_and_changes_nothing(attempt, w, capsys, monkeypatch):
    name, argv, code, pattern, *rest = attempt
    patch = rest[0] if rest else None
    may_change = rest[1] if len(rest) > 1 else set()
    if patch is not None:
        patch(monkeypatch, w)
    monkeypatch.chdir(w.root)
    before = tree(w.root)
    capsys.readouterr()
    try:
        got = main(argv(w))
    except SystemExit as exc:  # argparse's usage errors
        got = exc.code
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip() and not PROGRESS.search(x)]
    if got == 2:  # argparse: its usage, then one error line
        lines = [x for x in lines if not x.startswith(("usage:", " "))]
    assert got == code, err
    assert "Traceback" not in err and len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]
    after = tree(w.root)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed <= may_change, sorted(changed)
    assert not [k for k in after if ".tmp" in k]  # no temporary file is left behind


def test_debug_keeps_the_traceback(w):
    with pytest.raises(ValueError, match="is the input video"):
        main(["predict", str(w.video), "-k", str(w.run), "--json", str(w.video), "--debug"])


def test_an_internal_error_says_so_in_one_line():
    try:
        _ = None.shape  # a bug, not something a user caused
    except AttributeError as exc:
        line = describe_error(exc)
    assert line.startswith("internal error: AttributeError: 'NoneType' object has no attribute")
    assert "(at test_cli_hostile.py:" in line and "rerun with --debug" in line
    assert describe_error(MemoryError()).startswith("out of memory: the request is too large")
    assert describe_error(IsADirectoryError(21, "Is a directory", "out")) == \
        "'out': Is a directory; it is a folder: give a file name"


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    """`tagnet topology ... | head -0`: no traceback, status 141, and stdout pointed at
    /dev/null so that Python's final flush cannot raise again ('Exception ignored')."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    stdout = os.fdopen(write, "w")
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        assert main(["topology", "tag", "--grid", "2x3x3"]) == 141
        assert capsys.readouterr().err == ""
        stdout.write("more")
        stdout.flush()  # now harmless: the descriptor is /dev/null
    finally:
        stdout.close()


def test_a_failing_export_check_keeps_the_previous_file(w, monkeypatch, capsys):
    import tagnet.commands.export as export

    def fails(name, got, want, atol):
        raise RuntimeError(f"{name} differs from the eager model by 1 (> --atol {atol}); "
                           "nothing was written (a file already at --output is unchanged)")

    monkeypatch.setattr(export, "check_close", fails)
    out = w.root / "previous.pt2"
    before = out.read_bytes()
    assert main(["export", "-k", str(w.run), "-f", "pt2", "-o", str(out)]) == 1
    assert "pt2 export differs from the eager model" in capsys.readouterr().err
    assert out.read_bytes() == before and not list(w.root.glob("previous.tmp*"))


def test_window_outputs_keep_the_relative_path(w, tmp_path, capsys):
    """a/x.mp4 and b/x.mp4 get a/x.* and b/x.*, never one x.* (issue 26)."""
    for sub in ("a", "b"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        shutil.copy(w.video, tmp_path / "in" / sub / "x.mp4")
    out = tmp_path / "pred"
    assert main(["predict", str(tmp_path / "in"), "-k", str(w.run), "--window", "0.3",
                 "--out-dir", str(out), "--json", str(tmp_path / "all.json")]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "a/x.timeline.png", "a/x.windows.csv", "a/x.windows.json",
        "b/x.timeline.png", "b/x.windows.csv", "b/x.windows.json"]
    import json

    results = json.loads((tmp_path / "all.json").read_text())  # --json also with --window
    assert [Path(r["path"]).parent.name for r in results] == ["a", "b"]
    assert results[0]["windows"] == json.loads((out / "a/x.windows.json").read_text())


def test_window_on_an_avi_with_non_utf8_metadata(w, tmp_path, capsys):
    """An .avi (mpeg4) whose title is not UTF-8: plain predict read it; --window failed."""
    import av
    import numpy as np

    path = tmp_path / "clip.avi"
    with av.open(str(path), "w") as out:
        out.metadata["title"] = "clipXtitle"
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(20):
            frame = np.full((32, 32, 3), 10 * i, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    data = path.read_bytes()
    at = data.index(b"clipXtitle") + 4
    path.write_bytes(data[:at] + b"\xff" + data[at + 1:])
    with pytest.raises(UnicodeDecodeError), av.open(str(path)):
        pass  # what the window path used to do
    assert main(["predict", str(path), "-k", str(w.run), "--window", "1", "--out-dir",
                 str(tmp_path / "pred"), "--annotate", str(tmp_path / "ann.mp4")]) == 0
    with av.open(str(tmp_path / "ann.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 20
    assert len(__import__("json").loads((tmp_path / "pred" / "clip.windows.json")
                                        .read_text())) == 2


def test_predict_weights_with_config_overrides_as_documented(w, capsys):
    """`predict --weights W --config C data.num_frames=N` (the form --help shows)."""
    config = str(w.run / "config.yaml")
    assert main(["predict", str(w.video), "--weights", str(w.small), "--config", config,
                 "--topk", "1", "data.num_frames=8"]) == 0
    assert main(["predict", str(w.video), "data.num_frames=8", "--weights", str(w.small),
                 "--config", config, "--topk", "1"]) == 0
    capsys.readouterr()
    assert main(["predict", str(w.video), "--weights", str(w.small), "--config", config,
                 "data.num_frames=16"]) == 1  # really applied: the grid no longer fits
    assert "tokens in the grid (T*H*W): file 4, model 8" in capsys.readouterr().err
    assert main(["predict", str(w.video), "-k", str(w.run), "data.num_frames=16"]) == 1
    assert "overrides (data.num_frames=16) describe the model of --weights" in \
        capsys.readouterr().err
