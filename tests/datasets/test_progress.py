"""Progress bars write whole lines at a modest rate when their stream is not a terminal."""
from __future__ import annotations

import io

import pytest
from tqdm.std import tqdm

from tagnet.datasets.progress import LineProgress, progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _no_forcing(monkeypatch):
    monkeypatch.delenv("TAGNET_PROGRESS", raising=False)


def test_log_stream_gets_one_line_per_tenth_and_no_carriage_returns():
    buf = io.StringIO()
    bar = progress(total=1000, desc="epoch 1/3", file=buf)
    assert isinstance(bar, LineProgress)
    for i in range(1000):
        bar.update(1)
        bar.set_postfix(loss=f"{i:.1f}")
    bar.close()
    text = buf.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert [int(line.split("%")[0].split()[-1]) for line in lines] == list(range(10, 101, 10))
    assert [line.split()[3] for line in lines] == [f"{n}/1000" for n in range(100, 1001, 100)]
    assert all(line.startswith("epoch 1/3: ") for line in lines)
    assert "loss=" in lines[-1]


def test_iterating_writes_a_final_line_even_with_leave_false():
    buf = io.StringIO()
    out = list(progress(range(3), desc="eval", leave=False, dynamic_ncols=True, file=buf))
    assert out == [0, 1, 2]
    assert buf.getvalue().splitlines()[-1].startswith("eval: 100% 3/3")
    assert len(buf.getvalue().splitlines()) == 3


def test_resumed_bar_starts_silently_and_closes_once():
    buf = io.StringIO()
    bar = progress(total=20, initial=15, desc="epoch 2/2", file=buf)
    assert buf.getvalue() == ""  # no line for the starting position
    bar.update(5)
    bar.close()
    bar.close()
    assert len(buf.getvalue().splitlines()) == 1
    assert " 20/20 " in buf.getvalue()


def test_unknown_total_writes_at_most_one_line_per_interval():
    buf = io.StringIO()
    bar = progress(desc="scan", file=buf, interval=3600)
    bar.update(10)
    bar.update(10)
    assert buf.getvalue() == ""  # within the interval
    bar.close()
    assert buf.getvalue().splitlines() == [buf.getvalue().strip()]
    assert buf.getvalue().startswith("scan: 20 [")


def test_terminal_keeps_tqdm_and_the_variable_forces_either_kind(monkeypatch):
    tty = _Tty()
    bar = progress(total=3, file=tty)
    assert type(bar) is tqdm
    bar.close()
    monkeypatch.setenv("TAGNET_PROGRESS", "lines")
    assert isinstance(progress(total=3, file=_Tty()), LineProgress)
    monkeypatch.setenv("TAGNET_PROGRESS", "bar")
    assert type(progress(total=3, file=io.StringIO())) is tqdm
    assert type(progress(total=3, file=io.StringIO(), disable=True)) is tqdm
