"""Video -> identified tracks: per sampled frame detect, align and embed every face, link the faces into
tracks (:mod:`.tracking`), and identify each track from its pooled views when it closes, so memory stays
flat however long the video (a track keeps a running embedding sum, never its frames)."""

from __future__ import annotations

import time as clock

import numpy as np

from .scenes import capped, embed_faces, find_faces
from .tracking import Tracker

# A scene cut: the mean absolute difference of consecutive sampled frames' 32x24 grey thumbnails (0-255). On the
# scenes benchmark's clips (faces walking, blur, noise) consecutive frames differ by at most 3.2; frames of two
# different backgrounds by 48 or more (results/2026-12-08-reviews.md). A cut closes every track: the appearance
# floor alone cannot tell two people at one spot apart on 16-pixel faces (most strangers' cosines are above 0).
SCENE_CUT = 25.0


def thumbnail(image: np.ndarray) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, (32, 24), interpolation=cv2.INTER_AREA).astype(np.float32)


def track_entry(track, result, name: str) -> dict:
    """identify's JSON entry of one track."""
    return {
        "track": track.id,
        **result.to_dict(),
        "probe": name,
        "start": round(track.start, 3),
        "end": round(track.end, 3),
        "frames": track.frames,
        "box": [round(float(v), 1) for v in track.first_box],
        "det_score": round(track.det_score, 4),
    }


def identify_tracks(source, detector, embedder, search, name: str, drawer=None, warn=None, tracker=None) -> dict:
    """Run the whole video. ``search(embeddings N x D) -> list[Identification]`` (the gallery's answer);
    ``drawer``: a :class:`.draw.VideoDrawer` receiving every sampled frame with boxes and each track's
    running answer. Returns {"tracks": [entries in track order], "frames": sampled frames, "seconds": ...}."""
    from tqdm import tqdm

    from .draw import draw_boxes, face_label

    tracker = tracker or Tracker()
    entries, frames, capped_frames = [], 0, 0
    start = clock.perf_counter()

    def close(tracks):
        if tracks:
            results = search(np.stack([t.pooled() for t in tracks]).astype(np.float32))
            entries.extend(track_entry(t, r, name) for t, r in zip(tracks, results))

    bar = tqdm(total=source.expected, unit="frame", desc=str(name)[-30:], disable=None, leave=False, mininterval=1.0)
    previous = None
    try:
        for frame in source:
            small = thumbnail(frame.image)
            if previous is not None and float(np.abs(small - previous).mean()) > SCENE_CUT:
                tracker.cut()
            previous = small
            faces = find_faces(detector, frame.image)
            capped_frames += capped(detector, faces)
            ids = tracker.update(
                frame.time, [f.box for f in faces], embed_faces(embedder, faces), [f.det_score for f in faces]
            )
            if drawer is not None:
                live = {t.id: t for t in tracker.active}
                now = search(np.stack([live[i].pooled() for i in ids]).astype(np.float32)) if ids else []
                labels = [face_label(r.identity, r.score, f"#{i} ") for i, r in zip(ids, now)]
                drawer.write(draw_boxes(frame.image, [f.box for f in faces], labels, [r.identity for r in now]))
            close(tracker.take_closed())
            frames += 1
            bar.update()
        close(tracker.finish())
    finally:
        bar.close()
    if capped_frames and warn:
        warn(f"warning: {name}: {capped_frames} frame(s) stopped at {detector.max_faces} faces (the per-frame cap)")
    entries.sort(key=lambda e: e["track"])
    return {"tracks": entries, "frames": frames, "seconds": clock.perf_counter() - start}
