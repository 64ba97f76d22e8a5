"""Linking per-frame face detections into tracks: box overlap (IoU with the box moved by the track's
velocity) plus embedding cosine similarity, matched one-to-one greedily, best pair first (as the greedy
association of CenterTrack-style trackers; the serving install has no SciPy for the Hungarian algorithm,
and with a few faces a frame the two rarely differ). A track keeps running sums only (constant memory)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BIG = 1e6  # cost of a forbidden pairing
# Overlapping boxes alone never join a detection to a track whose pooled embedding it contradicts: another person
# at the same spot starts a new track. Strangers' cosines average about 0.05-0.1 with sd 0.13 at 16x16
# (results/2026-12-07-spread-out.md), so no floor refuses them all without splitting one person's blurred or
# turned views. 0.15 was chosen on tools/bench_scenes.py's generator (results/2026-12-08-reviews.md): on its
# clips' four seeds it keeps every track (0.2 split three of them), and it joins 37 of 182 same-spot swaps of
# two people where 0.0 joined 116. A scene cut closes every track whatever the floor (video_tracks.SCENE_CUT).
MIN_OVERLAP_COS = 0.15


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of boxes (x, y, w, h): M x 4, N x 4 -> M x N."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum((a[:, 0] + a[:, 2])[:, None], (b[:, 0] + b[:, 2])[None])
    y1 = np.minimum((a[:, 1] + a[:, 3])[:, None], (b[:, 1] + b[:, 3])[None])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-9)


def greedy_pairs(scores: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one (row, column) pairs of a score matrix, best first; pairs at -BIG are never taken."""
    order = np.argsort(-scores, axis=None, kind="stable")
    rows, cols, pairs = set(), set(), []
    for r, c in zip(*np.unravel_index(order, scores.shape)):
        if scores[r, c] <= -BIG:
            break
        if r not in rows and c not in cols:
            rows.add(r), cols.add(c), pairs.append((int(r), int(c)))
    return pairs


@dataclass
class Track:
    """One person's run of detections: first/last box and time, views, and the running embedding sum."""

    id: int
    start: float
    first_box: np.ndarray
    box: np.ndarray
    time: float
    total: np.ndarray  # sum of the views' L2-normalised embeddings
    frames: int = 1
    misses: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # box centre, px per second
    det_score: float = 0.0  # best detection score seen

    @property
    def end(self) -> float:
        return self.time

    def pooled(self) -> np.ndarray:
        """Mean of the views' normalised embeddings, renormalised (the track's embedding)."""
        return self.total / max(float(np.linalg.norm(self.total)), 1e-12)

    def predicted(self, time: float) -> np.ndarray:
        box = self.box.copy()
        box[:2] += self.velocity * (time - self.time)
        return box

    def add(self, time: float, box: np.ndarray, embedding: np.ndarray, score: float) -> None:
        dt = time - self.time
        if dt > 0:
            moved = (box[:2] + box[2:] / 2) - (self.box[:2] + self.box[2:] / 2)
            self.velocity = 0.5 * self.velocity + 0.5 * moved / dt
        self.box, self.time = box, time
        self.total = self.total + embedding
        self.frames += 1
        self.misses = 0
        self.det_score = max(self.det_score, score)


class Tracker:
    """Online tracker over sampled frames. ``update`` returns each detection's track id; tracks unseen
    for ``max_misses`` sampled frames are closed (``closed``; :meth:`finish` closes the rest).

    Pair score: IoU(predicted track box, detection) + ``appearance`` * cosine(track's pooled embedding,
    detection's). A pair is allowed when the sizes agree within ``size_ratio`` and either the IoU is at
    least ``min_iou`` and the cosine at least ``min_overlap_cos``, or the centres are within ``reach`` box sides
    and the cosine is at least ``min_cos``."""

    def __init__(
        self,
        min_iou: float = 0.2,
        min_cos: float = 0.3,
        appearance: float = 1.0,
        reach: float = 1.5,
        size_ratio: float = 2.0,
        max_misses: int = 5,
        min_overlap_cos: float = MIN_OVERLAP_COS,
    ):
        self.min_iou, self.min_cos, self.appearance = min_iou, min_cos, appearance
        self.min_overlap_cos = min_overlap_cos
        self.reach, self.size_ratio, self.max_misses = reach, size_ratio, max_misses
        self.active: list[Track] = []
        self.closed: list[Track] = []
        self._next = 0

    def _scores(self, time: float, boxes: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """Pair scores, tracks x detections, with forbidden pairs at -BIG."""
        pred = np.stack([t.predicted(time) for t in self.active])
        overlap = iou(pred, boxes)
        cos = np.stack([t.pooled() for t in self.active]) @ embeddings.T
        side_t, side_d = pred[:, 2:].max(axis=1)[:, None], boxes[:, 2:].max(axis=1)[None]
        centres_t, centres_d = pred[:, :2] + pred[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2
        dist = np.linalg.norm(centres_t[:, None] - centres_d[None], axis=2)
        ratio = np.maximum(side_t / side_d, side_d / side_t)
        allowed = (ratio <= self.size_ratio) & (
            ((overlap >= self.min_iou) & (cos >= self.min_overlap_cos))
            | ((dist <= self.reach * np.maximum(side_t, side_d)) & (cos >= self.min_cos))
        )
        return np.where(allowed, overlap + self.appearance * cos, -BIG)

    def update(self, time: float, boxes, embeddings: np.ndarray, scores=None) -> list[int]:
        """Assign this frame's detections (boxes N x 4 as x, y, w, h; embeddings N x D) to tracks."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.zeros(len(boxes)) if scores is None else np.asarray(scores, np.float64)
        ids = [-1] * len(boxes)
        matched: set[int] = set()
        if self.active and len(boxes):
            s = self._scores(time, boxes, embeddings)
            for r, c in greedy_pairs(s):
                self.active[r].add(time, boxes[c], embeddings[c], float(scores[c]))
                ids[c] = self.active[r].id
                matched.add(r)
        for r, t in enumerate(self.active):
            if r not in matched:
                t.misses += 1
        self.closed.extend(t for t in self.active if t.misses > self.max_misses)
        self.active = [t for t in self.active if t.misses <= self.max_misses]
        for c in range(len(boxes)):
            if ids[c] < 0:
                t = Track(self._next, time, boxes[c], boxes[c], time, embeddings[c].astype(np.float64))
                t.det_score = float(scores[c])
                self.active.append(t)
                ids[c] = t.id
                self._next += 1
        return ids

    def cut(self) -> None:
        """A scene cut: close every active track (no face after a cut continues one from before it)."""
        self.closed.extend(self.active)
        self.active = []

    def take_closed(self) -> list[Track]:
        """Tracks closed since the last call (the caller identifies and drops them: memory stays flat)."""
        out, self.closed = self.closed, []
        return out

    def finish(self) -> list[Track]:
        """Close every track; returns those not yet taken, in start order."""
        out = self.take_closed() + self.active
        self.active = []
        return sorted(out, key=lambda t: t.id)
