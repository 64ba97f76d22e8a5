"""What the API returns: plain dataclasses, and the one decision rule that turns ranked matches into an answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..inference.threshold import UNKNOWN

NO_THRESHOLD = "the best match is always named"


@dataclass(frozen=True)
class Match:
    identity: str
    score: float


@dataclass(frozen=True)
class Identification:
    """One probe's answer: ``identity`` is the best match, or "unknown" when its score is below the threshold."""

    identity: str
    score: float | None
    matches: list[Match]
    threshold: float | None
    threshold_source: str
    probe: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FaceIdentification(Identification):
    """One face of a scene: its answer plus ``box`` (x, y, w, h in the image's pixels), its index
    ``face`` within the image and the detector's ``det_score``."""

    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    face: int = 0
    det_score: float = 0.0


@dataclass(frozen=True)
class Verification:
    """1:1 answer; unpacks as ``same, score = ...``. ``threshold_far``: the false-accept rate the threshold
    was chosen at (a model card's or a gallery calibration's), None for a threshold given by the caller."""

    same: bool
    score: float
    threshold: float
    threshold_source: str
    threshold_far: float | None = None

    def __iter__(self):
        return iter((self.same, self.score))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Enrolment:
    """What :meth:`Gallery.add` did: samples added, duplicates of enrolled files, bad images skipped, and the
    duplicates enrolled as another identity (``conflicts``: "<file> is already enrolled as '<name>'")."""

    identity: str
    added: int
    duplicates: int
    bad: int = 0
    skipped: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def decide(matches: list[tuple[str, float]], threshold: float | None, source: str) -> Identification:
    """One probe's answer from its ranked (identity, score) matches: the best identity when its score is
    accepted (``score >= threshold``, :func:`lrface.inference.threshold.accepts`), else "unknown"."""
    from ..inference.threshold import accepts

    best = matches[0][1] if matches else None
    name = matches[0][0] if matches and accepts(best, threshold) else UNKNOWN
    return Identification(name, best, [Match(n, s) for n, s in matches], threshold, source)


def explicit_threshold(threshold: float | None) -> tuple[float | None, str]:
    """A caller's threshold, checked (a finite cosine score in [-1, 1]), and where it came from."""
    from ..checks import threshold as check_threshold

    if threshold is None:
        return None, NO_THRESHOLD
    return check_threshold(threshold), "given by the caller"
