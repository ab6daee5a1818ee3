"""Animated GIFs: PyAV decodes them, so folder scans list them like any video (issue 27:
`tagnet predict FOLDER` skipped a .gif that `tagnet predict x.gif` classified)."""
from tagnet.datasets import probe, read_clip
from tagnet.datasets.csv_dataset import VIDEO_EXTENSIONS, find_video_files
from tagnet.inference import find_videos


def test_a_folder_scan_lists_gifs_and_pyav_reads_every_frame(make_video, codes, tmp_path):
    assert ".gif" in VIDEO_EXTENSIONS
    gif = make_video("clip.gif", n=12, codec="gif", pix_fmt="rgb8",
                     rate=10)
    mkv = make_video("other.mkv", n=5)
    (tmp_path / "notes.txt").write_text("not a video")
    assert find_video_files(tmp_path) == ([str(gif), str(mkv)], [])
    assert find_videos([tmp_path]) == [str(gif), str(mkv)]
    info = probe(gif)
    assert (info.codec, info.num_frames, info.fps) == ("gif", 12, 10.0)
    assert codes(read_clip(gif, 12)) == list(range(12))  # every frame, in order
