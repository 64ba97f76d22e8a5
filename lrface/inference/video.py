"""Reading video (OpenCV's VideoCapture) or a folder of frames as a stream of sampled RGB frames, with
the bad-input checks made before any work: unopenable, zero-length, over the pixel cap, a bad sampling
option. A stream that stops early (truncated file) ends normally and records where in ``stopped``."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import imageio
from ..errors import Hint, UserError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".mjpeg")
FOLDER_FRAME_RATE = 25.0  # frames per second assumed for a folder of frames (--frame-rate)
MAX_VIDEO_RATE = 1000.0  # a header rate from here up (or none) is taken as damaged: FOLDER_FRAME_RATE is assumed


def is_video_file(path) -> bool:
    return os.path.splitext(str(path))[1].lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class Frame:
    index: int  # position in the source (0-based, before sampling)
    time: float  # seconds from the start
    image: np.ndarray  # uint8 RGB


def check_sampling(every: int | None, fps: float | None) -> None:
    if every is not None and every < 1:
        raise UserError(f"--every {every}: sample every N-th frame with N >= 1 (1: every frame)")
    if fps is not None and not fps > 0:
        raise UserError(f"--fps {fps}: give a sampling rate > 0 frames per second")
    if every is not None and fps is not None:
        raise UserError("--every and --fps both given; choose one way to sample frames")


class Sampler:
    """Which source frames to keep: every ``every``-th, or about ``fps`` per second of a ``rate`` source."""

    def __init__(self, rate: float, every: int | None = None, fps: float | None = None):
        self.step = float(every) if every else max(1.0, rate / fps) if fps else 1.0
        self.next = 0.0

    def keep(self, index: int) -> bool:
        if index + 1e-9 < self.next:
            return False
        self.next += self.step
        return True

    def expected(self, total: int | None) -> int | None:
        return None if not total else int(np.ceil(total / self.step))


def video_rate(reported, path) -> float:
    """The frame rate to use for a video whose header says ``reported``: that, or where it is missing or
    implausible (not in 0 < rate < MAX_VIDEO_RATE), FOLDER_FRAME_RATE with a Hint naming both."""
    rate = float(reported or 0)
    if np.isfinite(rate) and 0 < rate < MAX_VIDEO_RATE:
        return rate
    warnings.warn(
        Hint(
            f"{path}: the video reports {rate:g} frames per second (missing or implausible); assumed "
            f"{FOLDER_FRAME_RATE:g}, so times and --fps sampling may be off: use --every N, or re-encode the video "
            "with its true rate"
        ),
        stacklevel=3,
    )
    return FOLDER_FRAME_RATE


class VideoSource:
    """A video file; iterating yields the sampled frames. ``stopped``: None, or where reading failed
    before the frame count in the file's header."""

    def __init__(self, path: str | Path, every: int | None = None, fps: float | None = None):
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own lines ("moov atom not found")
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # and OpenCV's [ WARN ] lines
        check_sampling(every, fps)
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"{self.path}: video file not found; check the path")
        if self.path.stat().st_size == 0:
            raise UserError(f"{self.path}: zero-length video (an empty file); re-copy or remove it")
        self.capture = cv2.VideoCapture(str(self.path))
        if not self.capture.isOpened():
            raise UserError(
                f"{self.path}: cannot be opened as a video (damaged, or a codec OpenCV lacks); re-encode it"
            )
        w, h = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if w * h > imageio.MAX_PIXELS:
            self.capture.release()
            raise UserError(
                f"{self.path}: {w}x{h} frames are over {imageio.MAX_PIXELS / 1e6:g} megapixels; downscale the video"
            )
        self.size = (w, h)
        self.rate = video_rate(self.capture.get(cv2.CAP_PROP_FPS), self.path)
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.total = count if count > 0 else None
        self.sampler = Sampler(self.rate, every, fps)
        self.stopped: str | None = None
        self.read = 0

    @property
    def expected(self) -> int | None:
        return self.sampler.expected(self.total)

    def __iter__(self):
        import cv2

        try:
            while True:
                index = self.read
                if self.sampler.keep(index):
                    ok, bgr = self.capture.read()
                    if ok and bgr is not None:
                        self.read += 1
                        yield Frame(index, index / self.rate, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                        continue
                elif self.capture.grab():
                    self.read += 1
                    continue
                break
        finally:
            self.capture.release()
        if self.read == 0:
            raise UserError(f"{self.path}: no frame could be read (zero-length or damaged video); re-encode it")
        if self.total and self.read < self.total - 1:  # the header's count may be one off
            self.stopped = (
                f"{self.path}: reading stopped at frame {self.read} of {self.total} "
                f"({self.read / self.rate:.2f} s; truncated or damaged from there); answered the frames read"
            )


def frame_order(path: Path) -> list:
    """Sort key of a frame file: its path with runs of digits compared as numbers, so ffmpeg's unpadded
    ``frame_2.png`` comes before ``frame_10.png``."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(path))]


class FrameFolder:
    """A folder of frame images, in name order (numbers in names compared as numbers), at ``rate`` frames
    per second; unreadable frames are skipped (counted in ``skipped``)."""

    def __init__(self, path: str | Path, every=None, fps=None, rate: float = FOLDER_FRAME_RATE):
        from .folders import list_images

        check_sampling(every, fps)
        if not rate > 0:
            raise UserError(f"--frame-rate {rate}: give the folder's frames per second (> 0)")
        self.path = Path(path)
        self.files = sorted(list_images(self.path), key=frame_order)
        if not self.files:
            raise UserError(f"{self.path}: folder has no frame images ({imageio.IMAGE_TYPES})")
        self.rate, self.total = rate, len(self.files)
        self.sampler = Sampler(rate, every, fps)
        self.stopped: str | None = None
        self.skipped: list[str] = []

    @property
    def expected(self) -> int | None:
        return self.sampler.expected(self.total)

    def __iter__(self):
        for index, f in enumerate(self.files):
            if not self.sampler.keep(index):
                continue
            try:
                image = imageio.read_image(f)
            except imageio.BadImage as e:
                self.skipped.append(str(e))
                continue
            if image.shape[0] * image.shape[1] > imageio.MAX_PIXELS:
                raise UserError(f"{f}: frame over {imageio.MAX_PIXELS / 1e6:g} megapixels; downscale the frames")
            yield Frame(index, index / self.rate, image)
