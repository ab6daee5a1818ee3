"""Every Python block of README.md and docs/*.md runs as written, so the docs cannot rot.

One test case per ```` ```python ```` block, named ``FILE:LINE`` (the line of its opening
fence). A block runs in a fresh temporary working folder, in a namespace of its own (it
imports what it uses), after ``torch.manual_seed(0)``; whatever it registers (edge sets,
topologies, operators, readouts, models, backbones) is unregistered afterwards. Blocks in
other languages (bash, text) are not run.

A first line may declare files, with one of two markers:

- ``# uses: runs/tiny clip.mp4``: files the tests make and link into the working folder.
  ``runs/tiny`` is what ``tagnet train --config demo -o runs/tiny`` writes, cut short here
  (1 epoch, 3 classes of 4 FineSynth clips, the data in the test's folder); ``clip.mp4`` is
  four FineSynth clips put end to end (2.56 s). Another name is an error.
- ``# needs: FILE ...``: files a user has and the tests do not (the authors' checkpoints):
  the block is skipped, naming them.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.S | re.M)
EXAMPLE_FILES = ("runs/tiny", "clip.mp4")


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(line of the opening fence, code)`` of every ```` ```python ```` block of ``path``."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


BLOCKS = [(path, line, code) for path in DOCS for line, code in python_blocks(path)]


def marker(code: str, name: str) -> list[str] | None:
    """The words after ``# name:`` on the block's first line, or None."""
    first = code.splitlines()[0] if code.strip() else ""
    m = re.match(rf"#\s*{name}:\s*(.*)$", first)
    return m.group(1).split() if m else None


@pytest.fixture(scope="session")
def example_files(tmp_path_factory):
    """A folder with ``runs/tiny`` (a `tagnet train --config demo` run, cut short) and
    ``clip.mp4`` (four FineSynth clips end to end)."""
    import av

    from tagnet.cli import main

    folder = tmp_path_factory.mktemp("docs_examples")
    data = folder / "finesynth"
    assert main(["train", "--config", "demo", "-o", str(folder / "runs" / "tiny"),
                 f"data.root={data}", "data.synth.num_classes=3", "data.synth.clips_per_class=4",
                 "train.epochs=1", "train.progress=false"]) == 0
    frames = []
    for clip in sorted((data / "subactions").glob("*.mp4"))[:4]:
        with av.open(str(clip)) as video:
            frames += [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    with av.open(str(folder / "clip.mp4"), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return folder


def _registries():
    from tagnet.backbones.registry import BACKBONES
    from tagnet.graphs.edge_sets import EDGE_SETS
    from tagnet.graphs.topology import FAMILIES, TOPOLOGIES
    from tagnet.models.readouts import READOUTS
    from tagnet.models.registry import MODELS, load_model_families
    from tagnet.propagation.operators import OPERATORS

    load_model_families()  # the built-in families register on first use: not the block's
    return [EDGE_SETS, TOPOLOGIES, FAMILIES, OPERATORS, READOUTS, MODELS, BACKBONES]


def test_the_docs_have_blocks_and_markers_are_known():
    assert {p.name for p, _, _ in BLOCKS} >= {"README.md", "topology.md", "usage.md"}
    for path, line, code in BLOCKS:
        unknown = set(marker(code, "uses") or ()) - set(EXAMPLE_FILES)
        assert not unknown, f"{path.name}:{line}: '# uses:' names {sorted(unknown)}; the " \
                            f"tests make only {', '.join(EXAMPLE_FILES)}"


@pytest.mark.parametrize("path,line,code", BLOCKS,
                         ids=[f"{p.relative_to(ROOT)}:{line}" for p, line, _ in BLOCKS])
def test_block_runs(path, line, code, tmp_path, monkeypatch, request):
    needs = marker(code, "needs")
    if needs is not None:
        pytest.skip(f"needs {' '.join(needs)}, which the tests do not have")
    for name in marker(code, "uses") or ():
        source = request.getfixturevalue("example_files") / name
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).symlink_to(source)
    monkeypatch.chdir(tmp_path)
    registries = _registries()
    before = [set(r.names()) for r in registries]
    torch.manual_seed(0)
    try:
        exec(compile(code, f"{path.relative_to(ROOT)}:{line}", "exec"), {"__name__": "__docs__"})
    finally:  # leave the registries as they were
        for registry, names in zip(registries, before, strict=True):
            for name in set(registry.names()) - names:
                registry.unregister(name)


LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)?(?:#([^)\s]+))?\)")


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of ``path``: lower case, punctuation dropped, spaces -> '-'."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    heads = re.findall(r"^#+\s+(.*)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_relative_links_resolve(path):
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    bad = []
    for target, anchor in LINK.findall(text):
        if target and re.match(r"[a-z]+:", target):
            continue  # a web address
        dest = (path.parent / target).resolve() if target else path
        if not dest.exists():
            bad.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}#{anchor} (no such heading)")
    assert not bad, f"{path.name}: " + ", ".join(bad)


def test_the_readme_is_a_guide():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; analysis belongs in docs/"
    assert lines[2:6] == [
        "```bash",
        "bash scripts/demo.sh   # set up .venv (pinned) and run `tagnet demo` on the built-in "
        "synthetic data",
        "bash scripts/test.sh   # set up .venv (pinned) and run the test suite",
        "```",
    ]
