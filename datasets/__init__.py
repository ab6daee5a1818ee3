"""tagnet.datasets: video decoding, frame sampling, transforms and datasets.

Depends on torch, torchvision, av (PyAV), numpy and tqdm only (never on tagnet's model code)::

    file --probe/read_frames (PyAV, robust)--> uint8 (T, H, W, 3)     decode.py, probe.py
         --uniform / segment / dense / multi-clip indices-->           sampling.py
         --train_transform / test_transform--> float (3, T, 112, 112)  transforms.py

    FineGym, HAA500, CsvVideoDataset, VideoFolderDataset,
    SomethingSomething (V1/V2), Kinetics400 -> (clip, label, meta)
    FrameCache (decode once, memory-mapped shards), make_finesynth (synthetic benchmark)
    synth_paths.render_paths, synth_sites.render_sites: the benchmarks with headroom
    (clips in memory; tagnet.train.headroom caches their backbone tokens)
"""

from .base import VideoDataset
from .cache import FrameCache
from .csv_dataset import CsvVideoDataset, VideoFolderDataset, read_release_csv
from .decode import DecodedClip, read_clip, read_frames
from .finegym import FineGym, parse_finegym_id, read_categories, read_element_split
from .finesynth import FineSynth, make_finesynth
from .haa500 import HAA500
from .kinetics import Kinetics400, read_kinetics_csv
from .probe import VideoInfo, probe
from .sampling import dense_indices, multi_clip_indices, segment_indices, uniform_indices
from .skips import SkipSummary
from .something import SomethingSomething, read_sthv1_list, read_sthv2_list
from .transforms import MultiCropTransform, test_transform, train_transform
from .video import VideoDecodeError, VideoDecodeWarning, VideoNotFoundError

__all__ = [
    "CsvVideoDataset",
    "DecodedClip",
    "FineGym",
    "FineSynth",
    "FrameCache",
    "HAA500",
    "SkipSummary",
    "VideoDataset",
    "VideoDecodeError",
    "VideoDecodeWarning",
    "VideoFolderDataset",
    "VideoInfo",
    "VideoNotFoundError",
    "make_finesynth",
    "multi_clip_indices",
    "Kinetics400",
    "read_kinetics_csv",
    "SomethingSomething",
    "read_sthv1_list",
    "read_sthv2_list",
    "dense_indices",
    "parse_finegym_id",
    "probe",
    "read_categories",
    "read_clip",
    "read_element_split",
    "read_frames",
    "read_release_csv",
    "segment_indices",
    "test_transform",
    "train_transform",
    "MultiCropTransform",
    "uniform_indices",
]
