"""Regenerating a FineSynth folder says why, and deletes only what its manifest lists."""
import json

import pytest

from tagnet.datasets import make_finesynth

SMALL = dict(num_classes=2, clips_per_class=2, num_frames=4, size=16, val_fraction=0.5,
             progress=False)


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def test_other_settings_are_named_and_unlisted_files_kept(tmp_path, caplog):
    caplog.set_level("WARNING", logger="tagnet.datasets")
    first = make_finesynth(tmp_path, **SMALL)
    mine = [tmp_path / "subactions" / "my_clip.mp4", tmp_path / "annotations" / "notes.txt",
            tmp_path / "finesynth_train_element.txt"]  # not written by the generator
    for f in mine:
        f.write_text("keep me")
    make_finesynth(tmp_path, **SMALL)
    assert _warnings(caplog) == []  # same settings: reused, nothing said
    old = [tmp_path / "subactions" / f"{i}.mp4" for i, _ in first.train + first.val]

    second = make_finesynth(tmp_path, **{**SMALL, "seed": 1, "num_frames": 5})
    [msg] = _warnings(caplog)
    assert msg == (f"FineSynth 'finesynth' in '{tmp_path}' is regenerated because it was made "
                   "with other settings: num_frames 4 -> 5, seed 0 -> 1; deleting the 4 clips "
                   "and 3 annotation files its manifest lists (other files are kept)")
    assert all(f.read_text() == "keep me" for f in mine)
    assert not any(f.exists() for f in old)
    assert second.generated and sorted(p.name for p in (tmp_path / "subactions").iterdir()) == \
        sorted([f"{i}.mp4" for i, _ in second.train + second.val] + ["my_clip.mp4"])

    caplog.clear()
    (tmp_path / "subactions" / f"{second.val[0][0]}.mp4").unlink()
    make_finesynth(tmp_path, **{**SMALL, "seed": 1, "num_frames": 5})
    assert "because 1 of the files its manifest lists are missing" in _warnings(caplog)[0]
    caplog.clear()
    make_finesynth(tmp_path, **{**SMALL, "seed": 1, "num_frames": 5}, force=True)
    assert "because force=True" in _warnings(caplog)[0]


def test_a_foreign_manifest_deletes_nothing(tmp_path):
    make_finesynth(tmp_path, **SMALL)
    manifest = tmp_path / "finesynth_manifest.json"
    outside = tmp_path.parent / f"{tmp_path.name}_outside.mp4"
    outside.write_text("not FineSynth's")
    data = json.loads(manifest.read_text())
    data["train"].append([f"../../{tmp_path.name}_outside", 0])
    manifest.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"lists clip id '../../.*_outside', which is not a "
                       "plain file name; nothing was deleted"):
        make_finesynth(tmp_path, **{**SMALL, "seed": 3})
    assert outside.read_text() == "not FineSynth's"
    manifest.write_text("{not json")
    with pytest.raises(ValueError, match="finesynth_manifest.json' is not a FineSynth manifest"):
        make_finesynth(tmp_path, **SMALL)
    assert len(list((tmp_path / "subactions").iterdir())) == 4
