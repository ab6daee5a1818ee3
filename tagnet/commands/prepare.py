"""``tagnet prepare``: make a dataset folder from the official files, or check one."""
from __future__ import annotations

import argparse

HELP = "trim FineGym clips from raw videos (finegym), or check an HAA500 folder (haa500)"
DESCRIPTION = """\
finegym: cut the event and element clips of finegym_annotation_info_v1.1.json out
of the raw YouTube videos (one file per YouTube id under --videos), named by the
official ids: OUT/events/<event id>.mp4 and OUT/subactions/<element id>.mp4. A clip
holds the frames with start <= t < end; it is stream-copied when it starts on a
keyframe and needs no B-frame reordering, else re-encoded with libx264. Rerunning
skips finished clips (partial files are never left under a final name). Missing or
unreadable sources are summarised and written to OUT/prepare_report.json. Clips that
do not fit (an element ending after its event, a clip ending past its video's end)
are listed and skipped; --keep-out-of-bounds cuts them anyway. With --only, an element
listed in two split files (train and val) is reported.

  tagnet prepare finegym --videos raw/ --annotations finegym_annotation_info_v1.1.json \\
      --out /data/finegym --workers 8
  tagnet prepare finegym ... --only gym99_train_element_v1.1.txt gym99_val_element.txt

Then put the split and category files in /data/finegym/annotations/ and train with
data.root=/data/finegym.

haa500: check haa500_v1_1/video/<class>/<class>_<NNN>.mp4 (500 classes, 20 clips
each) and report every problem; --decode also opens every clip.

  tagnet prepare haa500 --root /data/haa500 --decode

Exit status 1 when problems were found (for finegym: anything but missing sources and
the listed clips that do not fit their video or event).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    fg = sub.add_parser("finegym", help="trim event and element clips from raw videos",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    fg.add_argument("--videos", required=True, help="folder of raw videos named <youtube id>.*")
    fg.add_argument("--annotations", required=True,
                    help="finegym_annotation_info_v1.1.json")
    fg.add_argument("--out", required=True, help="output folder (events/, subactions/)")
    fg.add_argument("--kinds", nargs="+", default=["event", "element"],
                    choices=["event", "element"], help="clips to make (both)")
    fg.add_argument("--only", nargs="+", metavar="SPLIT_FILE",
                    help="only the elements listed in these split files (and their events)")
    fg.add_argument("--workers", type=int, default=2, help="processes (2)")
    fg.add_argument("--crf", type=int, default=18, help="libx264 quality when re-encoding (18)")
    fg.add_argument("--preset", default="veryfast", help="libx264 preset (veryfast)")
    fg.add_argument("--no-copy", action="store_true", help="always re-encode")
    fg.add_argument("--quiet", action="store_true", help="no progress bar")
    fg.add_argument("--keep-out-of-bounds", action="store_true",
                    help="also cut clips that end after their event or past their video's "
                    "end (default: list and skip them)")
    fg.add_argument("--debug", action="store_true", help="show tracebacks")
    haa = sub.add_parser("haa500", help="check the layout of an HAA500 v1.1 folder")
    haa.add_argument("--root", required=True, help="folder holding haa500_v1_1 (or video/)")
    haa.add_argument("--decode", action="store_true", help="also open every clip with PyAV")
    haa.add_argument("--workers", type=int, default=4, help="threads for --decode (4)")
    haa.add_argument("--quiet", action="store_true", help="no progress bar")
    haa.add_argument("--debug", action="store_true", help="show tracebacks")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.dataset == "haa500":
        from tagnet.datasets.prepare_haa500 import check_haa500

        report = check_haa500(args.root, decode=args.decode, workers=args.workers,
                              progress=not args.quiet)
        print(report.summary())
        return 0 if report.ok else 1

    from tagnet.datasets.atomic import check_output_folder, check_outputs
    from tagnet.datasets.finegym import read_element_split_lines
    from tagnet.datasets.lists import split_overlaps
    from tagnet.datasets.prepare_finegym import REPORT, prepare_finegym

    check_output_folder("--out", args.out)
    check_outputs({"the report": Path(args.out) / REPORT},
                  {"--annotations": args.annotations,
                   **{f"--only {p}": p for p in args.only or []}})
    only, overlaps = None, []
    if args.only:
        lists = {path: [(i, f"{path}:{n}") for n, i, _ in read_element_split_lines(path)]
                 for path in args.only}
        only = {i for rows in lists.values() for i, _ in rows}
        overlaps = split_overlaps(lists)
    report = prepare_finegym(args.videos, args.annotations, args.out, kinds=tuple(args.kinds),
                             only=only, workers=args.workers, crf=args.crf, preset=args.preset,
                             allow_copy=not args.no_copy, progress=not args.quiet,
                             keep_out_of_bounds=args.keep_out_of_bounds, problems=overlaps)
    print(report.summary())
    print(f"report: {args.out}/{REPORT}")
    return 0 if report.ok else 1
