"""`identify --all-faces` and video inputs: every face of each image, and identified tracks of each video
or folder of frames (``--frames``); `--draw` pictures. Imported by the commands when used (torch-free)."""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

DRAW_IMAGE_TYPES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
FRAME_RATE = 25.0  # --frame-rate's default


def add_options(p: argparse.ArgumentParser, draw: bool = True) -> None:
    from ..inference.scenes import MIN_FACE

    g = p.add_argument_group("scenes and video (torch-free detection)")
    g.add_argument(
        "--all-faces",
        action="store_true",
        help="probes are photos or frames: detect every face (from about 12-18 px across, see --min-face; at most "
        "500 per image), "
        "align and answer each; a video file (.mp4, .avi, ...) is always read this way (--align then only "
        "means that a plain gallery folder holds raw photos)",
    )
    g.add_argument(
        "--min-face",
        type=int,
        metavar="PX",
        help=f"smallest face side sought, 8..512 px (default {MIN_FACE}; under 20 the frame is doubled first); "
        "the default still finds about 9 in 10 faces of 12-15 px; 12 finds a few more at about 0.7x the frame "
        "rate, 20 is about 10 %% faster (docs/scenes-and-video.md)",
    )
    if not draw:
        return
    g.add_argument(
        "--frames",
        action="store_true",
        help="each PROBE folder is the frames of one video (name order), answered as tracks",
    )
    g.add_argument("--every", type=int, help="video: use every N-th frame (default 1: all)")
    g.add_argument("--fps", type=float, help="video: sample about F frames per second instead of --every")
    g.add_argument("--frame-rate", type=float, help=f"frames per second of a --frames folder (default {FRAME_RATE:g})")
    g.add_argument(
        "--draw",
        metavar="OUT",
        help="write the picture with boxes and names (with --all-faces or a video): an image file for one image, "
        "a folder for several, a video file (.mp4, .m4v, .mov, .avi or .mkv) for one video",
    )


def detector_for(args):
    """The scene detector with ``--min-face`` checked (one line, exit 2, outside 8..512)."""
    from ..errors import UserError
    from ..inference.scenes import MIN_FACE, make_detector

    min_face = MIN_FACE if args.min_face is None else args.min_face
    if not 8 <= min_face <= 512:
        raise UserError(f"--min-face {min_face} is outside 8..512 px; use e.g. 12 (small faces) or 20 (faster)")
    return make_detector(min_face)


_SAMPLING = (("--every", "every"), ("--fps", "fps"), ("--frame-rate", "frame_rate"))


def refuse_unused(args, streams: bool | None = None) -> None:
    """One line for an option this command line would ignore: ``streams`` None for the plain path (one face
    per image: every scene option unused), else whether any video or --frames folder is among the probes."""
    from ..errors import UserError

    scene = (("--min-face", "min_face"), ("--draw", "draw")) if streams is None else ()
    for flag, key in scene + (_SAMPLING if not streams else ()):
        if getattr(args, key, None) is not None:
            if streams is None:
                raise UserError(f"{flag} applies to --all-faces and video probes; add --all-faces or drop {flag}")
            raise UserError(f"{flag} samples video frames, and these probes are images; drop {flag}")


def wanted(args) -> bool:
    """Whether the scene/video path answers this command line."""
    from ..inference.video import is_video_file

    return args.all_faces or getattr(args, "frames", False) or any(is_video_file(p) for p in args.probes)


def split_inputs(args) -> tuple[list[Path], list[Path], set[Path]]:
    """(videos and frame folders, image files, images named explicitly); checks the options first."""
    from ..errors import UserError
    from ..fileio import check_output
    from ..inference.draw import check_video_output
    from ..inference.identify import collect_probes
    from ..inference.video import check_sampling, is_video_file

    check_sampling(args.every, args.fps)
    streams = [Path(p) for p in args.probes if is_video_file(p) or (args.frames and Path(p).is_dir())]
    refuse_unused(args, bool(streams))
    if args.frame_rate is not None and not any(p.is_dir() for p in streams):
        raise UserError("--frame-rate sets a --frames folder's rate (a video file has its own); drop --frame-rate")
    rest = [p for p in args.probes if Path(p) not in streams]
    images, explicit = collect_probes(rest) if rest else ([], set())
    if args.draw:
        if streams and (len(streams) > 1 or images):
            raise UserError("--draw with a video takes exactly one video (or --frames folder) and no images")
        if streams:
            check_video_output(args.draw)
        elif len(images) == 1 and not Path(args.draw).is_dir():
            if Path(args.draw).suffix.lower() not in DRAW_IMAGE_TYPES:
                raise UserError(f"--draw {args.draw}: name an image file (.jpg or .png) for one image")
            check_output(args.draw, "file", label="--draw")
        else:
            check_output(args.draw, "dir", label="--draw")
    return streams, images, explicit


def drawing_names(files) -> dict[Path, str]:
    """Each image's file name in a ``--draw`` folder: ``<stem>.jpg``; names that clash (ignoring case) take
    the folders below the clashing inputs' common folder (a/x.png, b/x.png: a_x.jpg, b_x.jpg), then the
    extension (x_png.jpg), then a number (x-2.jpg): each input its own file, the same for the same inputs."""
    files = list(dict.fromkeys(Path(f) for f in files))
    names = {f: f.stem for f in files}

    def clashing():
        counts = Counter(n.lower() for n in names.values())
        groups: dict[str, list[Path]] = {}
        for f in files:
            if counts[names[f].lower()] > 1:
                groups.setdefault(names[f].lower(), []).append(f)
        return groups.values()

    for group in clashing():
        dirs = [os.path.dirname(os.path.abspath(f)) for f in group]
        root = os.path.commonpath(dirs)
        for f, d in zip(group, dirs):
            names[f] = "_".join([*Path(os.path.relpath(d, root)).parts, f.stem])
    for group in clashing():
        for f in group:
            names[f] = f"{names[f]}_{f.suffix.lstrip('.')}" if f.suffix else names[f]
    taken = {n.lower() for n in names.values()}
    used: set[str] = set()
    for f in files:
        name, k = names[f], 1
        while name.lower() in used or (k > 1 and name.lower() in taken):
            k += 1
            name = f"{names[f]}-{k}"
        used.add(name.lower())
        names[f] = name
    return {f: f"{n}.jpg" for f, n in names.items()}


def identify_images(images, explicit, detector, embedder, search, args, warn) -> list[dict]:
    """identify's entries for every face of each image (one entry with a reason where there is none)."""
    from ..inference.draw import draw_boxes, face_label, write_image
    from ..inference.scenes import embed_faces, faces_of_images, scene_entries

    entries, names = [], drawing_names(images)
    for f, image, faces in faces_of_images(images, explicit, detector, warn):
        results = search(embed_faces(embedder, faces)) if faces else []
        entries.extend(scene_entries(str(f), faces, results))
        if args.draw:
            labels = [face_label(r.identity, r.score) for r in results]
            out = Path(args.draw)
            target = out if len(images) == 1 and not out.is_dir() else out / names[Path(f)]
            write_image(target, draw_boxes(image, [x.box for x in faces], labels, [r.identity for r in results]))
    return entries


def identify_streams(streams, detector, embedder, search, args, warn) -> tuple[list[dict], list[str]]:
    """identify's track entries of each video / frame folder, and the lines saying where reading stopped."""
    from ..inference.draw import VideoDrawer
    from ..inference.video import FrameFolder, VideoSource
    from ..inference.video_tracks import identify_tracks

    entries, stops = [], []
    for path in streams:
        if path.is_dir():
            source = FrameFolder(path, args.every, args.fps, FRAME_RATE if args.frame_rate is None else args.frame_rate)
        else:
            source = VideoSource(path, args.every, args.fps)
        drawer = VideoDrawer(args.draw, source.rate / source.sampler.step) if args.draw else None
        try:
            run = identify_tracks(source, detector, embedder, search, str(path), drawer, warn)
            if drawer is not None:
                drawer.close()
        finally:
            if drawer is not None:
                drawer.abort()
        for line in getattr(source, "skipped", []):
            warn(f"warning: skipped {line}")
        if source.stopped:
            stops.append(source.stopped)
        fps = run["frames"] / max(run["seconds"], 1e-9)
        warn(f"{path}: {run['frames']} frames sampled, {len(run['tracks'])} tracks ({fps:.1f} frames/s)")
        entries.extend(run["tracks"])
        if not run["tracks"]:
            reason = f"no face found in {run['frames']} sampled frames"
            entries.append({"identity": None, "score": None, "matches": [], "probe": str(path), "reason": reason})
    return entries, stops


def text_line(e: dict) -> str:
    """identify's tab-separated line of one entry (a face of an image, or a track of a video)."""
    where = (
        f"track {e['track']} {e['start']:.2f}-{e['end']:.2f}s {e['frames']} frames"
        if "track" in e
        else f"face {e['face']} box {','.join(f'{v:g}' for v in e['box'])}"
        if "face" in e
        else e["reason"]
    )
    matches = "\t".join(f"{m['identity']}:{m['score']:.4f}" for m in e["matches"])
    answer = "" if e["identity"] is None else f"\t{e['identity']}"  # no face: the reason alone
    return f"{e['probe']}\t{where}{answer}" + (f"\t{matches}" if matches else "")
