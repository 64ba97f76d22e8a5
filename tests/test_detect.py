"""lrface.detect: torch-free MTCNN (ONNX Runtime + NumPy) finds pasted faces at known boxes, agrees with
facenet-pytorch on real photos, bounds its work and refuses bad input; `--align` serving imports no torch."""

from __future__ import annotations

import glob
import subprocess
import sys

import cv2
import numpy as np
import pytest

from lrface.detect import Face, FaceDetector, align_face
from lrface.errors import UserError
from tests.conftest import shared_data
from tests.serving_helpers import REPO

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def detector():
    return FaceDetector(min_face_size=12, threads=1)


def iou(a, b) -> float:
    """IoU of two (x, y, w, h) boxes."""
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """A face-free background: smooth colour noise with some edges (rectangles and lines)."""
    rng = np.random.default_rng(seed)
    bg = cv2.resize(rng.uniform(40, 220, (h // 40 + 2, w // 40 + 2, 3)).astype(np.float32), (w, h))
    bg = np.clip(bg + rng.normal(0, 6, bg.shape), 0, 255).astype(np.uint8)
    for _ in range(12):
        x, y = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(bg, (x, y), (x + int(rng.integers(10, 120)), y + int(rng.integers(10, 80))), colour, -1)
    return bg


def paste(frame: np.ndarray, face_img: np.ndarray, ref: Face, size: float, at: tuple[int, int]):
    """Paste ``face_img`` scaled so its reference box is ``size`` px wide, the box's corner at ``at``
    (feathered ellipse, no hard edges); returns the pasted face's true box (x, y, w, h)."""
    k = size / ref.box[2]
    small = cv2.resize(face_img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    bx, by, bw, bh = (v * k for v in ref.box)
    ox, oy = int(round(at[0] - bx)), int(round(at[1] - by))
    mask = np.zeros(small.shape[:2], np.float32)
    centre = (int(bx + bw / 2), int(by + bh / 2))
    cv2.ellipse(mask, centre, (int(bw * 0.75), int(bh * 0.75)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, bw * 0.1))[..., None]
    y0, x0 = max(oy, 0), max(ox, 0)
    y1, x1 = min(oy + small.shape[0], frame.shape[0]), min(ox + small.shape[1], frame.shape[1])
    src, m = small[y0 - oy : y1 - oy, x0 - ox : x1 - ox], mask[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    frame[y0:y1, x0:x1] = (m * src + (1 - m) * frame[y0:y1, x0:x1]).astype(np.uint8)
    return (ox + bx, oy + by, bw, bh)


@pytest.fixture(scope="module")
def astronaut(detector):
    image = skimage_data.astronaut()
    [face] = detector.detect(image)
    return image, face


def test_pasted_faces_are_found_at_their_boxes(detector, astronaut):
    image, ref = astronaut
    frame = texture(480, 640, seed=1)
    sizes, spots = (16, 20, 28, 40, 64), [(40, 40), (200, 60), (380, 80), (60, 260), (300, 250)]
    truth = [paste(frame, image, ref, s, at) for s, at in zip(sizes, spots)]
    faces = detector.detect(frame)
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    for box, size in zip(truth, sizes):
        best = max(faces, key=lambda f: iou(f.box, box))
        assert iou(best.box, box) >= 0.5, (size, box, [f.box for f in faces])
        assert best.landmarks.shape == (5, 2) and best.landmarks[0, 0] < best.landmarks[1, 0]  # eyes left, right
        assert not best.landmarks.flags.writeable  # a Face is immutable
    assert len(faces) <= len(truth) + 1  # at most one false face
    # the background alone holds none
    assert detector.detect(texture(480, 640, seed=1)) == []


def test_max_faces_bounds_the_answer(astronaut):
    image, ref = astronaut
    frame = texture(240, 640, seed=2)
    for i in range(6):
        paste(frame, image, ref, 40, (20 + 100 * i, 80))
    all_faces = FaceDetector(min_face_size=20, threads=1).detect(frame)
    two = FaceDetector(min_face_size=20, max_faces=2, threads=1).detect(frame)
    assert len(all_faces) == 6 and len(two) == 2
    assert [f.score for f in two] == [f.score for f in all_faces[:2]]


def test_large_frames_are_shrunk_to_bounded_work(astronaut, monkeypatch):
    """Over MAX_CANVAS_PIXELS the frame is shrunk (bounded time and memory); boxes stay in its own pixels."""
    import lrface.detect.detector as detector_module

    image, ref = astronaut
    frame = texture(600, 800, seed=3)
    box = paste(frame, image, ref, 64, (500, 300))
    monkeypatch.setattr(detector_module, "MAX_CANVAS_PIXELS", 200 * 150)
    seen = []
    det = FaceDetector(min_face_size=12, threads=1)
    run = det.cascade.run
    monkeypatch.setattr(det.cascade, "run", lambda im, *a: seen.append(im.shape) or run(im, *a))
    faces = det.detect(frame)
    assert seen[0][0] * seen[0][1] <= 200 * 150 and len(faces) == 1 and iou(faces[0].box, box) >= 0.5


def test_max_candidates_bounds_what_reaches_r_net(astronaut, monkeypatch):
    """At most max_candidates P-Net candidates (best first) reach R-Net; the face is still found."""
    image, ref = astronaut
    frame = texture(240, 320, seed=5)
    box = paste(frame, image, ref, 40, (150, 90))
    det, seen = FaceDetector(min_face_size=12, threads=1, max_candidates=20), []
    stage = det.cascade._stage
    monkeypatch.setattr(
        det.cascade, "_stage", lambda name, img, b, side: seen.append(len(b)) or stage(name, img, b, side)
    )
    faces = det.detect(frame)
    assert seen[0] <= 20 and len(faces) >= 1 and iou(faces[0].box, box) >= 0.5


def test_align_face_is_the_prepare_template_crop(astronaut):
    from lrface.detect.template import align_face as template_align

    image, ref = astronaut
    crop = align_face(image, ref)
    assert crop.shape == (112, 112, 3) and np.array_equal(crop, template_align(image, ref.landmarks))


def test_bad_input_is_refused(detector):
    with pytest.raises(UserError, match="uint8 H x W x 3"):
        detector.detect(np.zeros((32, 32), np.uint8))
    with pytest.raises(UserError, match="uint8 H x W x 3"):
        detector.detect(np.zeros((32, 32, 3), np.float32))
    for kwargs in (
        {"min_face_size": 0},
        {"factor": 1.0},
        {"max_faces": 0},
        {"thresholds": (0.6, 0.7)},
        {"max_candidates": 0},
    ):
        with pytest.raises(UserError):
            FaceDetector(**kwargs)
    assert detector.detect(np.zeros((8, 8, 3), np.uint8)) == []  # smaller than any face sought


def test_matches_facenet_pytorch_on_real_photos():
    """Same faces, boxes (IoU >= 0.9) and landmarks (<= 2 px) as facenet-pytorch's MTCNN, same settings."""
    torch = pytest.importorskip("torch")
    facenet = pytest.importorskip("facenet_pytorch")
    from lrface.imageio import read_image

    photos = sorted(glob.glob(str(shared_data("celeba-wild-dev") / "photos" / "*" / "*.jpg")))
    assert len(photos) >= 10
    ref = facenet.MTCNN(keep_all=True, min_face_size=20, thresholds=[0.6, 0.7, 0.7], factor=0.709, device="cpu")
    ours = FaceDetector(min_face_size=20, thresholds=(0.6, 0.7, 0.7), factor=0.709, threads=1)
    found = 0
    for path in photos:
        image = read_image(path)
        with torch.inference_mode():
            boxes, probs, points = ref.detect(image, landmarks=True)
        faces = ours.detect(image)
        n = 0 if boxes is None else len(boxes)
        assert len(faces) == n, path
        for box, prob, pts in zip(boxes if n else [], probs if n else [], points if n else []):
            x1, y1, x2, y2 = box  # facenet-pytorch sorts by area (select_largest), lrface by score: match by IoU
            face = max(faces, key=lambda f: iou(f.box, (x1, y1, x2 - x1, y2 - y1)))
            assert iou(face.box, (x1, y1, x2 - x1, y2 - y1)) >= 0.9 and abs(face.score - prob) < 1e-3, path
            assert np.abs(face.landmarks - pts).max() <= 2.0, path
        found += n
    assert found >= len(photos)


def test_align_serving_path_imports_no_torch(tmp_path):
    """gallery build --align and identify --align run in a process that never imports torch."""
    from tests.serving_helpers import tiny_export

    model = tiny_export(tmp_path / "tiny")[1]
    image = skimage_data.astronaut()
    for name, im in (("astronaut/a.png", image), ("astronaut/b.png", cv2.flip(image, 1))):
        (tmp_path / "gal" / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "gal" / name), im[..., ::-1])
    code = (
        "import sys, lrface.cli; rc = lrface.cli.main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    g = str(tmp_path / "g")
    for args in (
        ["gallery", "build", str(tmp_path / "gal"), "--model", str(model), "--out", g, "--align"],
        ["identify", str(tmp_path / "gal" / "astronaut" / "a.png"), "--gallery", g, "--align"],
    ):
        r = subprocess.run(
            [sys.executable, "-c", code, *args], check=False, capture_output=True, text=True, cwd=REPO, timeout=300
        )
        assert r.returncode == 0, r.stderr
    assert "astronaut" in r.stdout


def test_opencv_networks_match_onnxruntime(astronaut):
    """The three networks run on OpenCV's DNN (faster): same outputs as ONNX Runtime within 1e-4 on pyramid
    levels and crops of a real image, whatever the order of shapes and batch sizes; OpenCV's thread count
    is left as it was."""
    from lrface.detect.mtcnn import Cascade, _normalise
    from lrface.detect.resample import AreaSampler

    fast, ref = Cascade(threads=1).nets, Cascade(threads=1, engine="onnxruntime").nets
    before, img, rng = cv2.getNumThreads(), AreaSampler(astronaut[0]), np.random.default_rng(0)
    inputs = [("pnet", img.resize((side, side + 7))[None]) for side in (256, 181, 128, 256, 91)]
    for n in (5, 17, 5):
        x0, y0 = rng.integers(0, 400, n), rng.integers(0, 400, n)
        x1, y1 = x0 + rng.integers(8, 100, n), y0 + rng.integers(8, 100, n)
        inputs += [(net, img.crops(x0, y0, x1, y1, (side, side))) for net, side in (("rnet", 24), ("onet", 48))]
    for net, x in inputs:
        x = _normalise(x)
        for a, b in zip(fast[net].run(None, {"image": x}), ref[net].run(None, {"image": x}), strict=True):
            assert a.shape == b.shape and np.abs(a - b).max() < 1e-4, net
    assert cv2.getNumThreads() == before
    outside = np.array([[900.0, 900.0, 950.0, 950.0, 0.9]])  # beyond the 512 x 512 image: an empty batch
    for net, side in (("rnet", 24), ("onet", 48)):
        ok, outs = Cascade(threads=1)._stage(net, img, outside, side)
        assert not ok.any() and all(len(o) == 0 for o in outs)


def test_concurrent_detection_agrees_and_restores_opencv_threads(detector, astronaut):
    """One detector used from several threads at once (the service) gives the sequential answer, and
    OpenCV's process-wide thread count is back to what it was afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    image, ref = astronaut
    before, small = cv2.getNumThreads(), cv2.resize(image, (320, 240))
    expected = [detector.detect(small), [ref]]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(detector.detect, [small, image] * 4))
    for faces, want in zip(got, expected * 4):
        assert [f.box for f in faces] == [f.box for f in want]
    assert cv2.getNumThreads() == before
