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
    def __init__(self, faces):
        self.faces, self.max_faces = faces, 500

    def detect(self, image):
        return self.faces


def test_find_faces_aligns_small_faces_steadied():
    image = texture()
    small, large = face((60, 40, 16, 16), OFFSET), face((20, 20, 48, 48), OFFSET)
    got = find_faces(Stub([small, large]), image)
    assert np.array_equal(got[0].crop, align_face(image, small, steady=True))
    assert not np.array_equal(got[0].crop, align_face(image, small))
    assert np.array_equal(got[1].crop, align_face(image, large))
