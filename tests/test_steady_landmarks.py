"""Small detected faces: O-Net's landmarks moved toward the box's implied landmarks before alignment
(lrface.detect.align.steadied_landmarks), in the one path that --all-faces, video and identify_faces share."""

from __future__ import annotations

import numpy as np
import pytest

from lrface.detect import Face, align_face
from lrface.detect.align import BOX_LANDMARKS, box_landmarks, shrink_weight, steadied_landmarks
from lrface.inference.scenes import find_faces


def texture(h: int = 120, w: int = 160) -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 255, (h // 4, w // 4, 3)).astype(np.float32)
    import cv2

    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def face(box, offset) -> Face:
    return Face(tuple(float(v) for v in box), 0.99, box_landmarks(box) + np.asarray(offset, np.float64))


OFFSET = np.array([[1.5, -1.0], [2.0, 0.5], [-1.0, 1.5], [0.5, 1.0], [-1.5, -0.5]])


def test_box_landmarks_are_the_template_in_the_box():
    np.testing.assert_allclose(box_landmarks((10, 20, 16, 32)), [10, 20] + BOX_LANDMARKS * [16, 32])
    assert box_landmarks((0, 0, 100, 100))[0, 0] < box_landmarks((0, 0, 100, 100))[1, 0]  # image-left eye first


@pytest.mark.parametrize("width, weight", [(8, 0.3), (12, 0.3), (20, 0.3), (26, 0.15), (32, 0.0), (64, 0.0)])
def test_shrink_weight_by_width(width, weight):
    assert shrink_weight(width) == pytest.approx(weight)


def test_weight_zero_and_large_faces_keep_onet_landmarks_exactly():
    small, large = face((40, 30, 16, 16), OFFSET), face((40, 30, 48, 48), OFFSET)
    assert np.array_equal(steadied_landmarks(small, 0.0), small.landmarks)
    assert np.array_equal(steadied_landmarks(large), large.landmarks)
    image = texture()
    assert np.array_equal(align_face(image, large, steady=True), align_face(image, large))


def test_small_face_landmarks_move_toward_the_box():
    f = face((40, 30, 16, 16), OFFSET)
    np.testing.assert_allclose(steadied_landmarks(f), box_landmarks(f.box) + 0.7 * OFFSET)
    np.testing.assert_allclose(steadied_landmarks(f, 1.0), box_landmarks(f.box))
    mid = face((40, 30, 26, 26), OFFSET)
    np.testing.assert_allclose(steadied_landmarks(mid), box_landmarks(mid.box) + 0.85 * OFFSET)


def test_a_noisy_small_face_is_aligned_closer_to_its_true_landmarks():
    image, f = texture(), face((60, 40, 16, 16), OFFSET)
    truth = align_face(image, Face(f.box, 1.0, box_landmarks(f.box))).astype(np.float64)
    plain = np.abs(align_face(image, f).astype(np.float64) - truth).mean()
    steady = np.abs(align_face(image, f, steady=True).astype(np.float64) - truth).mean()
    assert steady < 0.8 * plain


class Stub:
    def __init__(self, faces, upscale=2.0):
        self.faces, self.max_faces, self.upscale = faces, 500, upscale

    def detect(self, image):
        return self.faces


def test_find_faces_aligns_small_faces_steadied():
    image = texture()
    small, large = face((60, 40, 16, 16), OFFSET), face((20, 20, 48, 48), OFFSET)
    got = find_faces(Stub([small, large]), image)
    assert np.array_equal(got[0].crop, align_face(image, small, steady=True))
    assert not np.array_equal(got[0].crop, align_face(image, small))
    assert np.array_equal(got[1].crop, align_face(image, large))


def test_find_faces_keeps_onet_landmarks_without_the_upscale():
    image, small = texture(), face((60, 40, 16, 16), OFFSET)
    [got] = find_faces(Stub([small], upscale=1.0), image)
    assert np.array_equal(got.crop, align_face(image, small))


# O-Net run again on the final box and on its mirror (FaceDetector(refine_landmarks=True), the scene detector)


@pytest.fixture(scope="module")
def small_scene():
    from scene_helpers import scene

    frame, _truth = scene(sizes=(16, 24, 40), h=240, w=260)
    return frame


def test_refine_keeps_boxes_and_scores_and_moves_landmarks_a_little(small_scene):
    from lrface.detect import FaceDetector

    plain = FaceDetector(min_face_size=14, threads=1).detect(small_scene)
    refined = FaceDetector(min_face_size=14, threads=1, refine_landmarks=True).detect(small_scene)
    assert len(plain) >= 4 and [f.box for f in plain] == [f.box for f in refined]
    assert [f.score for f in plain] == [f.score for f in refined]
    moved = [np.abs(p.landmarks - r.landmarks).max() for p, r in zip(plain, refined)]
    assert max(moved) > 0.01  # changed ...
    assert all(m < 0.15 * p.box[2] for m, p in zip(moved, plain))  # ... by a fraction of the face


def test_refined_mirror_pass_is_onet_on_the_mirrored_image(small_scene):
    """_refined's mirrored crops are the flipped crops; this recomputes them from the mirrored frame instead."""
    from lrface.detect import FaceDetector
    from lrface.detect.mtcnn import _normalise, _square
    from lrface.detect.resample import AreaSampler

    det = FaceDetector(min_face_size=14, threads=1, upscale=1)
    faces = det.detect(small_scene)
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (f.box for f in faces)])
    got = det.cascade._refined(AreaSampler(small_scene), boxes)

    W = small_scene.shape[1]
    b = np.round(_square(boxes)).astype(np.int64)
    bw, bh = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1

    def onet(image, bx):
        crops = AreaSampler(image).crops(bx[:, 0] - 1, bx[:, 1] - 1, bx[:, 2], bx[:, 3], (48, 48))
        return det.cascade.nets["onet"].run(None, {"image": _normalise(crops)})[1]

    p = onet(small_scene, b)
    again = np.stack([bw[:, None] * p[:, :5] + b[:, :1] - 1, bh[:, None] * p[:, 5:] + b[:, 1:2] - 1], axis=2)
    mb = b.copy()
    mb[:, 0], mb[:, 2] = W - b[:, 2] + 1, W - b[:, 0] + 1
    q = onet(np.ascontiguousarray(small_scene[:, ::-1]), mb)
    mirror = np.stack([b[:, :1] - 1 + bw[:, None] * (1 - q[:, :5]), bh[:, None] * q[:, 5:] + b[:, 1:2] - 1], axis=2)
    np.testing.assert_allclose(got, again + mirror[:, [1, 0, 2, 4, 3]], atol=0.05)


def test_the_scene_detector_refines_and_the_alignment_detector_does_not():
    from lrface.inference.align import PhotoAligner
    from lrface.inference.scenes import MIN_FACE, make_detector

    det = make_detector()
    assert det.refine_landmarks and det.min_face_size == MIN_FACE
    assert not PhotoAligner(threads=1).detector.refine_landmarks
