"""Does a gallery generation belong to a model? (torch-free)

A gallery records the model it was built with: the embedding size, the exported weights' fingerprint
(``lrface.fingerprint`` in the ONNX metadata) and the sha256 of the ONNX file itself (galleries written
before lrface recorded it are checked on the first two). Searching a gallery with any other model gives
confident wrong names, so every reader - CLI, API, service, on each new generation - refuses it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import Damaged


class ModelMismatch(Damaged):
    """A gallery built with another model than the one in use (the service answers 503)."""


def mismatch(info: dict, embedder) -> str | None:
    """Why the gallery with ``info`` does not belong to ``embedder``'s model, or None when it does."""
    dim, recorded = int(info["embedding_dim"]), info.get("model_sha256")
    if embedder.dim != dim:
        return f"holds {dim}-d embeddings but {embedder.path} makes {embedder.dim}-d ones"
    if embedder.fingerprint != info["model_fingerprint"]:
        return (
            f"was built with model {info['model_fingerprint'][:12]} ({info['model_path']}) but {embedder.path} "
            f"is model {embedder.fingerprint[:12]}"
        )
    if recorded is not None and recorded != embedder.sha256:
        return (
            f"was built with the model file of sha256 {recorded[:12]} ({info['model_path']}) but {embedder.path} "
            f"has sha256 {embedder.sha256[:12]} (same weights fingerprint, other bytes: damaged or re-exported)"
        )
    return None


def check_model(info: dict, embedder, root=None) -> None:
    """ModelMismatch naming both models and the fix when the gallery does not belong to ``embedder``."""
    why = mismatch(info, embedder)
    if why is not None and not Path(info["model_path"]).is_file():  # readers fell back to the packaged default
        raise ModelMismatch(
            f"{root or 'the gallery'} was built with model {info['model_fingerprint'][:12]} ({info['model_path']}), "
            "which is no longer there (moved or deleted); pass that model file with --model (API: "
            "Recognizer(path)), or rebuild the gallery with another "
            f"(`lrface gallery build FOLDER --model MODEL --out {root or 'GALLERY'} --force`)"
        )
    if why is not None:
        raise ModelMismatch(
            f"{root or 'the gallery'} {why}; use the gallery's model or rebuild the gallery with this one "
            f"(`lrface gallery build FOLDER --model MODEL --out {root or 'GALLERY'} --force`)"
        )
