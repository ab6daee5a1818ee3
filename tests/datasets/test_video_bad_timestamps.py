"""Timestamps and counts that lie: AVI B-frames, packed B-frames, Matroska without counts,
variable frame rate, seek indices that lie. Each test makes its own file."""

from fractions import Fraction

import av
import numpy as np
import pytest

from tagnet.datasets import (
    probe,
    read_clip,
    read_frames,
)
from tagnet.datasets.decode import INDEX_CACHE

VOP = b"\x00\x00\x01\xb6"


def nvop(bvop: bytes, increment_bits: int = 5) -> bytes:
    """A not-coded VOP (DivX placeholder) with the timing bits of ``bvop``."""
    i = bvop.find(VOP)
    bits = "".join(f"{b:08b}" for b in bvop[i + 4 : i + 12])
    j = 2
    while bits[j] == "1":  # modulo_time_base
        j += 1
    j += 3 + increment_bits  # terminator, marker, vop_time_increment, marker
    head = "01" + bits[2:j] + "0"  # P type, vop_coded = 0
    head += "0" + "1" * ((-len(head) - 1) % 8)  # stuffing
    return VOP + int(head, 2).to_bytes(len(head) // 8, "big")


def packed_avi(src, dst):
    """DivX-style packed B-frames: 'P B' stored as one chunk plus an N-VOP placeholder, user
    data 'DivX503b1393p', and one trailing N-VOP: the header counts one frame more."""
    with av.open(str(src)) as inp:
        ist = inp.streams.video[0]
        data = [bytes(p) for p in inp.demux(ist) if p.size]
        with av.open(str(dst), "w", format="avi") as out:
            ost = out.add_stream_from_template(ist)
            kind = ["IPBS"[d[d.find(VOP) + 4] >> 6] for d in data]
            first = data[0].find(VOP)
            data[0] = data[0][:first] + b"\x00\x00\x01\xb2DivX503b1393p" + data[0][first:]
            chunks, k = [], 0
            while k < len(data):
                if kind[k] in "IP" and k + 1 < len(data) and kind[k + 1] == "B":
                    chunks += [(data[k] + data[k + 1], kind[k] == "I"), (nvop(data[k + 1]), False)]
                    k += 2
                else:
                    chunks.append((data[k], kind[k] == "I"))
                    k += 1
            chunks.append((nvop(data[2]), False))
            for n, (chunk, key) in enumerate(chunks):
                packet = av.Packet(chunk)
                packet.stream, packet.time_base, packet.is_keyframe = ost, ist.time_base, key
                packet.pts = packet.dts = n
                out.mux(packet)
    return dst


def test_avi_bframes_pts_start_at_one_and_not_monotonic(make_video, codes):
    path = make_video("b.avi", n=30, codec="mpeg4", bframes=2, options={"g": "12"})
    with av.open(str(path)) as c:
        pts = [p.pts for p in c.demux(c.streams.video[0]) if p.size]
    assert pts[0] == 1 and pts != sorted(pts)  # the file really is the awkward kind
    for strategy in ("sequential", "seek"):
        assert codes(read_frames(path, [0, 13, 14, 29], strategy=strategy).frames) == [
            0,
            13,
            14,
            29,
        ]


def test_avi_packed_bframes_header_count_off_by_one(make_video, codes):
    src = make_video("src.avi", n=30, codec="mpeg4", bframes=1, options={"g": "12"})
    path = packed_avi(src, src.with_name("packed.avi"))
    with av.open(str(path)) as c:
        assert c.streams.video[0].frames == 31  # what the header claims
    info = probe(path)
    assert info.header_frames == 31 and info.num_frames == 30 and info.exact
    out = read_frames(path, np.arange(30))
    assert out.num_frames == 30 and out.strategy == "counted"
    assert codes(out.frames) == list(range(30))
    assert codes(read_clip(path, 4)) == [0, 9, 19, 29]


@pytest.mark.parametrize("name,codec", [("v.webm", "libvpx"), ("v.mkv", "libx264")])
def test_matroska_without_frame_count_or_duration(make_video, codes, name, codec):
    path = make_video(name, n=20, codec=codec)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.frames == 0 and s.duration is None
    info = probe(path)
    assert info.num_frames == 20 and info.duration == pytest.approx(0.8)
    assert codes(read_clip(path, 5)) == [0, 4, 9, 14, 19]


def test_variable_frame_rate_and_gaps(make_video, codes):
    pts = [0, 40, 80, 200, 240, 250, 260, 1000, 1040, 1100]  # ms: jitter and a 0.74 s gap
    path = make_video("vfr.mkv", n=10, pts=pts, time_base=Fraction(1, 1000), options={"g": "3"})
    info = probe(path)
    assert info.variable_frame_rate and info.num_frames == 10
    assert info.duration == pytest.approx(1.14, abs=0.02)
    for strategy in ("sequential", "seek"):
        assert codes(read_frames(path, [0, 3, 7, 9], strategy=strategy).frames) == [0, 3, 7, 9]


def test_several_video_streams_best_is_chosen(tmp_path, codes, coded):
    path = tmp_path / "two.mkv"
    with av.open(str(path), "w") as out:
        small = out.add_stream("ffv1", rate=25)
        small.width, small.height, small.pix_fmt = 32, 24, "yuv420p"
        big = out.add_stream("ffv1", rate=25)
        big.width, big.height, big.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            for s, img in ((small, coded(100 + i, 32, 24)), (big, coded(i))):
                out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(small.encode())
        out.mux(big.encode())
    info = probe(path)
    assert info.stream_index == 1 and info.num_video_streams == 2 and info.width == 64
    assert codes(read_clip(path, 3)) == [0, 2, 5]
    assert codes(read_clip(path, 3, stream_index=0)) == [100, 102, 105]


def test_seek_index_that_lies(make_video, codes, remux):
    """The container index marks every frame as a keyframe: seeks land on P-frames, which
    the decoder drops until the next real keyframe, i.e. past the target."""
    src = make_video(
        "gop.mp4", n=60, codec="libx264", options={"g": "16", "bf": "2", "sc_threshold": "0"}
    )

    def lie(i, packet):
        packet.is_keyframe = True
        return packet

    path = remux(src, src.with_name("lie.mp4"), edit=lie)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        c.seek(int(40 / 25 / s.time_base), stream=s)
        first = next(c.decode(s))
        assert first.pts * s.time_base * 25 > 40  # a plain seek lands past frame 40
    out = read_frames(path, [3, 20, 40, 50], strategy="seek")
    assert codes(out.frames) == [3, 20, 40, 50] and out.strategy == "seek"


def test_seek_landing_past_target_falls_back(make_video, codes):
    """Force the verification path: an index whose keyframe flags lie too."""
    path = make_video(
        "gop2.mp4", n=40, codec="libx264", options={"g": "20", "bf": "0", "sc_threshold": "0"}
    )
    read_frames(path, [0])
    key = INDEX_CACHE.key(str(path), None)
    entry = INDEX_CACHE.get(key)
    index = entry["index"]
    object.__setattr__(index, "key_positions", np.arange(len(index.timeline)))  # all "key"
    out = read_frames(path, [5, 30, 35], strategy="seek")
    assert codes(out.frames) == [5, 30, 35] and out.strategy == "sequential"
    assert entry["seek_ok"] is False  # never trusted again for this file
