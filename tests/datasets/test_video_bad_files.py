"""Broken and unusual files: bad metadata, corrupt packets, several streams, rotation,
pixel formats, extra streams, unreadable files. Each test makes its own file."""

import av
import numpy as np
import pytest

from tagnet.datasets import (
    VideoDecodeError,
    VideoDecodeWarning,
    VideoNotFoundError,
    probe,
    read_clip,
    read_frames,
)


def test_metadata_not_utf8(make_video, codes):
    src = make_video("src.mkv", n=5)
    bad = src.with_name("latin1.mkv")
    with av.open(str(src)) as inp, av.open(str(bad), "w", metadata_encoding="latin-1") as out:
        out.metadata["title"] = "caf\xe9 \xff"  # written as bytes e9 ff: not UTF-8
        ost = out.add_stream_from_template(inp.streams.video[0])
        for p in inp.demux(inp.streams.video[0]):
            if p.size:
                p.stream = ost
                out.mux(p)
    with pytest.raises(UnicodeDecodeError):
        av.open(str(bad))  # the naive way fails
    assert probe(bad).num_frames == 5
    assert codes(read_clip(bad, 5)) == [0, 1, 2, 3, 4]


def corrupt_frame(remux, src, dst, frame: int, damage):
    """Copy ``src`` with the packet of ``frame`` (25 fps) replaced by ``damage(bytes)``."""

    def edit(i, packet):
        if packet.pts * packet.time_base * 25 != frame:
            return packet
        bad = av.Packet(damage(bytes(packet)))
        bad.pts, bad.dts, bad.time_base = packet.pts, packet.dts, packet.time_base
        return bad

    return remux(src, dst, edit=edit)


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_corrupt_packet_mid_stream(make_video, codes, remux, codec):
    # frame 19 is the last of a GOP: no other frame references it, so only it is lost
    src = make_video(
        f"{codec}.mkv", n=40, codec=codec, options={"g": "10", "bf": "0", "sc_threshold": "0"}
    )
    rng = np.random.default_rng(0)
    path = corrupt_frame(
        remux,
        src,
        src.with_name("bad.mkv"),
        19,
        lambda data: rng.integers(0, 256, len(data)).astype(np.uint8).tobytes(),
    )
    with pytest.warns(VideoDecodeWarning, match="1 frame.* lost.*1 of 40"):
        out = read_frames(path, np.arange(40))
    assert out.num_frames == 40 and out.lost == 1 and out.substituted == 1
    assert out.decode_errors == 1  # reported, and decoding went on after it
    got = codes(out.frames)
    assert got[:19] == list(range(19)) and got[20:] == list(range(20, 40))
    assert got[19] == 18  # the lost frame is replaced by its nearest neighbour
    info = probe(path, exact=True)
    assert info.num_frames == 39 and info.lost_frames == 1 and info.decode_errors == 1


def test_damaged_frames_are_reported(make_video, remux):
    src = make_video("m.mkv", n=40, codec="mpeg4", options={"g": "10"})
    path = corrupt_frame(
        remux, src, src.with_name("cut.mkv"), 19, lambda data: data[: len(data) // 2]
    )
    with pytest.warns(VideoDecodeWarning, match="damaged"):
        out = read_frames(path, np.arange(40))
    assert out.corrupt >= 1 and out.num_frames == 40


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_display_matrix(tmp_path, codes, coded, writer, rotation):
    upright = [coded(i) for i in range(5)]  # what the viewer should see
    coded = [np.ascontiguousarray(np.rot90(f, -rotation // 90)) for f in upright]
    size = (coded[0].shape[1], coded[0].shape[0])
    path = writer(
        tmp_path / "phone.mp4", codec="libx264", frames=coded, size=size, rotation=rotation
    )
    info = probe(path)
    assert info.rotation == rotation % 360 and (info.width, info.height) == (64, 48)
    clip = read_clip(path, 5)
    assert clip.shape == (5, 48, 64, 3) and codes(clip) == [0, 1, 2, 3, 4]
    assert read_clip(path, 1, short_side=24).shape == (1, 24, 32, 3)
    assert read_clip(path, 1, size=(24, 40)).shape == (1, 24, 40, 3)


COLOURS = np.array(
    [[20, 20, 20], [128, 128, 128], [235, 235, 235], [200, 30, 40], [30, 180, 60], [40, 60, 200]],
    dtype=np.uint8,
)


@pytest.mark.parametrize(
    "codec,pix_fmt,color_range",
    [
        ("ffv1", "yuv420p10le", None),
        ("libx264", "yuv420p10le", None),
        ("libx264", "yuvj420p", None),
        ("mjpeg", "yuvj420p", None),
        ("ffv1", "yuv420p", 2),
    ],
)
def test_pixel_formats_to_8bit_rgb(make_video, codec, pix_fmt, color_range):
    img = np.repeat(np.repeat(COLOURS[None], 48, 0), 16, 1)  # six 16-px wide patches
    path = make_video(
        "p.mkv",
        codec=codec,
        pix_fmt=pix_fmt,
        size=(96, 48),
        frames=[img] * 3,
        color_range=color_range,
    )
    assert probe(path).pix_fmt == ("yuvj420p" if "j" in pix_fmt else pix_fmt)
    got = read_clip(path, 1)[0, 24, 8::16].numpy().astype(int)
    assert np.abs(got - COLOURS).max() <= 4  # limited-range misreads are off by 15+


def test_audio_and_subtitle_streams(tmp_path, codes, coded):
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,200\nhello\n")
    path = tmp_path / "av.mkv"
    with av.open(str(srt)) as sub_in, av.open(str(path), "w") as out:
        sub = out.add_stream_from_template(sub_in.streams[0])
        video = out.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for p in sub_in.demux(sub_in.streams[0]):
            if p.size:
                p.stream = sub
                out.mux(p)
        for i in range(10):
            out.mux(video.encode(av.VideoFrame.from_ndarray(coded(i), format="rgb24")))
            chunk = av.AudioFrame.from_ndarray(
                np.zeros((1, 640), np.float32), format="fltp", layout="mono"
            )
            chunk.sample_rate, chunk.pts = 16000, i * 640
            out.mux(audio.encode(chunk))
        out.mux(video.encode())
        out.mux(audio.encode())
    info = probe(path)
    assert info.has_audio and info.has_subtitles and info.num_frames == 10
    assert codes(read_clip(path, 10)) == list(range(10))


def test_broken_files_raise_clear_errors(tmp_path, make_video, no_hang):
    good = make_video("good.mp4", n=30, codec="libx264")
    data = good.read_bytes()
    cases = {
        "empty.mp4": b"",
        "truncated.mp4": data[: len(data) // 2],  # moov atom (at the end) is gone
        "notes.mp4": b"this is not a video\n" * 50,
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    wav = tmp_path / "sound.wav"
    with av.open(str(wav), "w") as out:
        audio = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        out.mux(audio.encode(frame))
        out.mux(audio.encode())
    expected = {
        "empty.mp4": "empty",
        "truncated.mp4": "cannot open",
        "notes.mp4": "cannot open",
        "sound.wav": "no video stream",
    }
    for name, why in expected.items():
        for fn in (probe, lambda p: read_clip(p, 4)):
            with pytest.raises(VideoDecodeError, match=why) as err:
                fn(tmp_path / name)
            assert name in str(err.value)
    with pytest.raises(VideoNotFoundError, match="does not exist") as err:
        read_clip(tmp_path / "gone.mp4", 4)
    assert isinstance(err.value, FileNotFoundError) and "gone.mp4" in str(err.value)
    with pytest.raises(VideoDecodeError, match="not a regular file"):
        probe(tmp_path)


def test_truncated_matroska_decodes_what_is_there(make_video, codes, no_hang):
    good = make_video("good.mkv", n=40, codec="ffv1", options={"g": "1"})
    data = good.read_bytes()
    cut = good.with_name("cut.mkv")
    cut.write_bytes(data[: len(data) * 3 // 5])
    clip = read_frames(cut, lambda n: np.arange(n))
    assert 0 < clip.num_frames < 40
    assert codes(clip.frames)[: clip.num_frames - 1] == list(range(clip.num_frames - 1))


def test_error_message_names_codec(tmp_path, make_video, remux):
    path = make_video("allbad.mkv", n=5, codec="mpeg4")

    def garbage(i, packet):
        bad = av.Packet(b"\x00\x00\x01\xb6" + b"\xff" * 40)
        bad.pts, bad.dts, bad.time_base = packet.pts, packet.dts, packet.time_base
        return bad

    bad = remux(path, tmp_path / "garbage.mkv", edit=garbage)
    with pytest.raises(VideoDecodeError, match=r"garbage.mkv' \(mpeg4, .*B\): no decodable"):
        read_clip(bad, 4)


def test_errors_survive_pickling(tmp_path):
    """DataLoader workers send exceptions to the main process by pickling them."""
    import pickle

    err = VideoDecodeError(tmp_path / "x.mp4", "no decodable frames", codec="h264")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is VideoDecodeError and str(back) == str(err) and back.codec == "h264"
    missing = pickle.loads(pickle.dumps(VideoNotFoundError("y.mp4", "file does not exist")))
    assert isinstance(missing, FileNotFoundError) and missing.path == "y.mp4"
