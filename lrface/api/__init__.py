"""The public Python API: ``from lrface import Recognizer, Gallery`` (torch-free).

    from lrface import Gallery, Recognizer

    rec = Recognizer("student.onnx")                 # Recognizer() uses the packaged model
    gallery = Gallery.create("people.gallery", rec)  # or Gallery.open("people.gallery")
    gallery.add("Ann", ["ann1.png", "ann2.png"])
    gallery.calibrate(far=0.01)                      # threshold for "unknown", stored in the gallery
    [result] = rec.identify(["probe.png"], gallery)
    print(result.identity, result.score, result.threshold_source)
    same, score = rec.verify("a.png", "b.png", threshold=0.6)
    for face in rec.identify_faces("hallway.jpg", gallery):   # every face of a scene (torch-free)
        print(face.box, face.identity, face.score)

Images are file paths, encoded bytes (an upload) or uint8 RGB arrays (H x W x 3). The CLI
(`lrface identify|verify|embed|gallery`) and the HTTP service call these classes.
"""

from .gallery import Gallery
from .recognizer import ImageLike, Recognizer
from .results import UNKNOWN, Enrolment, FaceIdentification, Identification, Match, Verification, decide

__all__ = [
    "UNKNOWN",
    "Enrolment",
    "FaceIdentification",
    "Gallery",
    "Identification",
    "ImageLike",
    "Match",
    "Recognizer",
    "Verification",
    "decide",
]
