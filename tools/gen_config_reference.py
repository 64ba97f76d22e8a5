"""Generate docs/config-reference.md from the config schema (lrface/config/schema.py).

    python tools/gen_config_reference.py           # rewrite docs/config-reference.md
    python tools/gen_config_reference.py --check   # exit 1 when the file is stale or a key lacks a description

Every schema key needs a one-line entry in DESCRIPTIONS; tests/test_config_reference.py keeps both in sync.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "config-reference.md"

SECTIONS = {
    "": "Top level",
    "data": "What to train on, and how it is split",
    "augment": "Train-time augmentation and degradation",
    "preprocess": "Normalisation (shared by training, export and serving)",
    "student": "The student stream",
    "teacher": "The teacher stream",
    "guided": "Guided module pairs between the streams",
    "head": "Classifier heads of both streams",
    "loss": "The EKD losses (paper Eq. 3-11)",
    "hr": "Distillation from a high-resolution teacher's descriptors",
    "embed_kd": "Distillation from a frozen exported model (e.g. a packaged ensemble)",
    "optim": "SGD and its schedule",
    "train": "The training run",
    "init": "Transfer: start from another run",
}

DESCRIPTIONS = {
    "name": "run name; the default run directory is runs/<name>",
    "strategy": "what trains: ekd | student-only | teacher-only | kd | byot",
    "data.kind": "reader: auto | packed | folder | cifar10 | cifar100 | tiny-imagenet",
    "data.path": "packed set, identity folder or dataset root, or a list of sources (--data / $LRFACE_DATA override it)",
    "data.exclude": "packed sets / identity folders whose identity names are left out of training",
    "data.merge": "several sources: source keeps <source>/<identity> apart, name merges equal identity names",
    "data.val_identities": "open-set validation: fraction (< 1) or count of identities held out of training",
    "data.val_source": "draw the held-out identities among this data.path entry's identities only (an index)",
    "data.val_pairs": "same-person (and as many different-person) pairs among the held-out identities, scored every epoch",
    "data.image_size": "side of the training images in pixels (larger packed sets are resized or degraded to it)",
    "data.test_fraction": "per-identity test split when the set has a single split",
    "data.val_fraction": "fraction of the training split held out for model choices (never tune on test)",
    "data.fraction": "few-sample subset: fraction of each class's training images (paper Fig. 7)",
    "data.min_per_class": "identities with fewer images are dropped",
    "data.low_res": "classification: down-sample to data.image_size (paper Fig. 6)",
    "data.download": "classification: let torchvision download CIFAR when online",
    "data.cache": "identity folders: cache the resized arrays",
    "data.allow_no_face": "train on a packed set in which lrface prepare found no face at all (every crop the box "
    "fallback); off: exit 2",
    "augment.enabled": "turn the geometric and photometric augmentation on",
    "augment.flip": "random horizontal flip",
    "augment.shift": "max shift, as a fraction of the side (albumentations backend: rounded to whole pixels, at least one, at the native size with degrade; torch: sub-pixel)",
    "augment.shift_p": "share of the images the shift is drawn for (the others keep their place); in [0, 1]",
    "augment.scale": "max scale change (fraction)",
    "augment.rotate": "max rotation in degrees",
    "augment.brightness_contrast": "max brightness / contrast change",
    "augment.pad_crop": "classification: random crop with this much padding (pixels)",
    "augment.independent": "each stream gets its own augmentation draw (the paper's incomplete synchronisation)",
    "augment.backend": "auto (torch on CUDA, albumentations on CPU and with degrade) | albumentations | torch",
    "augment.degrade": "render a fresh low-resolution view of each larger training face at every draw",
    "augment.degrade_filters": "down-sampling filters drawn per image: area | bilinear | bicubic | nearest | lanczos",
    "augment.degrade_blur": "max Gaussian blur sigma (pixels at the native size), drawn in [0, max]; 0 = off",
    "augment.degrade_noise": "max Gaussian noise std (0..255 units, at data.image_size), drawn in [0, max]; 0 = off",
    "augment.degrade_jpeg": "min JPEG quality, drawn per image in [q, 95]; 0 = off",
    "augment.lighting": "probability per image of a directional shading (linear ramp at a random angle); 0 = off",
    "augment.lighting_strength": "max shading strength s: intensities multiplied by a ramp between 1 - s and 1 + s",
    "augment.gamma": "max abs(ln gamma): 255 (x/255)^g with g uniform in [e^-gamma, e^gamma] per image; 0 = off",
    "augment.grey": "probability per image of grey conversion (ITU-R 601 weights, three equal channels); 0 = off",
    "preprocess.mean": "per-channel mean subtracted after scaling to [0, 1] (RGB)",
    "preprocess.std": "per-channel std divided by after the mean (RGB)",
    "student.arch": "student backbone name from the model registry (sresnet18: the 0.61 M streamlined ResNet-18)",
    "student.guided": "guided modules on the student stream (S_G of paper Table V)",
    "student.kwargs": "extra keyword arguments for the student backbone (e.g. widths; embedding: linear_bn for a signed embedding layer, models/base.py; last_stride: 1 for a 4x4 last block, models/resnet.py)",
    "teacher.arch": "teacher backbone name from the model registry",
    "teacher.guided": "guided modules on the teacher stream (T_G of paper Table V)",
    "teacher.kwargs": "extra keyword arguments for the teacher backbone (e.g. widths)",
    "teacher.mode": "evolutionary (trained online beside the student) | fixed (pre-trained, frozen)",
    "teacher.checkpoint": "checkpoint of a fixed teacher, or the starting point of an evolutionary one",
    "guided.count": "guided module pairs, 0..C-1 (paper Fig. 4)",
    "guided.blocks": "explicit 1-based block indices for the guided modules; overrides guided.count",
    "guided.dim": "feature size D shared by both streams' guided modules; 0 = the student's feature size",
    "guided.width": "bottleneck width inside a guided module",
    "head.type": "softmax (the paper) | cosface | arcface, for both streams and every guided classifier",
    "head.s": "scale of the cosine logits (margin heads)",
    "head.m": "margin: CosFace subtracts m from the cosine, ArcFace adds m (radians) to the angle",
    "loss.temperature": "softmax temperature T of every KL term (scaled by T^2)",
    "loss.ce": "weight of the classification loss L_L (Eq. 9)",
    "loss.within_kl": "weight of the within-stream KL L_D (Eq. 3)",
    "loss.within_l2": "weight of the within-stream feature loss L_F (Eq. 4)",
    "loss.cross_kl": "weight of the cross-stream KL L_G1 (Eq. 6)",
    "loss.cross_l2": "weight of the cross-stream feature loss L_G2 (Eq. 7)",
    "loss.cross_kl_pairs": "weight of the guided-pair terms inside L_G1 (Eq. 6) next to the head term",
    "loss.within_teachers": "who teaches a guided classifier in Eq. 3: head (the backbone head) | all_deeper",
    "loss.l2_reduction": "Eq. 4 and 7: element_mean (MSE) | squared_norm (the paper's squared norm, D times larger)",
    "loss.cross_stream_to_teacher": "the teacher also learns from the student (mutual variant of Eq. 11)",
    "loss.spread": "weight of L_spread on the student's embeddings (beyond the paper; distill/spread.py): different "
    "people's cosines pushed towards those of random directions (mean 0, mean square 1/d); 0 = off, never ramped",
    "loss.supcon": "weight of L_supcon on the student's embeddings (beyond the paper; distill/supcon.py): each face's "
    "own person's other faces in the batch ranked above the rest; needs train.per_identity; 0 = off, never ramped",
    "loss.supcon_tau": "temperature of L_supcon",
    "loss.warmup_epochs": "ramp every distillation term (not ce) linearly from 1/n to 1 over n epochs",
    "loss.cross_warmup_epochs": "the same ramp for the cross-stream terms (Eq. 6, 7) only",
    "hr.point": "weight of the point term (projected student feature against the HR descriptor); 0 = off",
    "hr.point_kind": "point term distance: cosine | l2",
    "hr.relation": "weight of the relation term (within-batch similarity structure); 0 = off",
    "hr.relation_kind": "relation term comparison: mse | kl",
    "hr.tau": "temperature of the kl relation term",
    "hr.relation_center": "compare batch-centred similarity structures",
    "hr.proto": "weight of the prototype term (the HR teacher's class similarities as soft labels); 0 = off",
    "hr.proto_tau": "temperature of the prototype soft labels",
    "hr.warmup_epochs": "ramp the HR weights linearly from 1/n to 1 over n epochs",
    "hr.center": "subtract the training split's mean descriptor from the targets (then renormalise)",
    "embed_kd.model": "the frozen model: a packaged model's name or an .onnx of `lrface export`",
    "embed_kd.weight": "weight of its within-batch cosine structure in the student's sum; 0 = off",
    "embed_kd.teacher_weight": "the same term in the trained teacher's sum, on the teacher's own view; 0 = off",
    "embed_kd.point": "weight of L_emb-point in the student's sum: 1 - cos(P f, t) of its embedding through a "
    "training-only linear projection (saved in checkpoints, never exported) against the model's; 0 = off",
    "embed_kd.kind": "comparison of the two structures: kl (per row, towards each face's nearest) | mse",
    "embed_kd.tau": "temperature of the kl form",
    "embed_kd.warmup_epochs": "ramp the weight linearly from 1/n to 1 over n epochs",
    "embed_kd.memory": "> 0 (kl form, the student's term): each row also reaches this many earlier training images "
    "(a FIFO of the student's detached embeddings and the model's, saved in checkpoints); 0 = the batch only",
    "embed_kd.unlabeled": "packed sets / identity folders whose faces only the student's embed_kd terms learn from "
    "(no label read; the validation's and data.exclude's people dropped by name); [] = none",
    "embed_kd.unlabeled_batch": "faces of embed_kd.unlabeled appended to each step's student batch",
    "optim.lr": "initial SGD learning rate",
    "optim.momentum": "SGD momentum",
    "optim.weight_decay": "SGD weight decay",
    "optim.nesterov": "Nesterov momentum",
    "optim.schedule": "step: optim.milestones x optim.gamma; cosine: after the warm-up, half a cosine from lr that "
    "would reach 0 one epoch after the last (milestones unused; engine/build.py)",
    "optim.milestones": "epochs at which the learning rate is multiplied by optim.gamma (optim.schedule=step)",
    "optim.gamma": "learning-rate factor at each milestone",
    "optim.warmup_epochs": "learning rate rises linearly from lr/n to lr over the first n epochs",
    "optim.teacher_milestones": "a trained teacher's own lr steps (empty: optim.milestones)",
    "train.epochs": "number of epochs",
    "train.batch_size": "global batch size (split across torchrun processes)",
    "train.seed": "seed of every random draw (splits, initialisation, batches, augmentation)",
    "train.device": "auto | cpu | cuda",
    "train.amp": "mixed precision: none | bf16",
    "train.threads": "torch CPU threads; 0 = leave as is",
    "train.max_steps": "stop after this many steps in total (smoke tests); 0 = no limit",
    "train.log_every": "steps between reading losses back from the device and logging them",
    "train.eval_batch_size": "batch size of the per-epoch evaluation",
    "train.select_on": "whose score picks best.pt: student | teacher | student_ema (open-set validation wins when set)",
    "train.ema_decay": "> 0: also keep an exponential moving average of the student's weights and BN statistics "
    "(updated every student step), validated each epoch as student_ema and exported with `lrface export --ema`; "
    "0 = off",
    "train.select_metric": "with an open-set validation, what picks best.pt: acc (the 10-fold accuracy) | "
    "dense_tar1e-3 (TAR at FAR 1e-3 over every pair of the held-out faces)",
    "train.per_identity": ">= 2: batches of identity groups (P x K): each identity's images in runs of this many, "
    "the runs shuffled, so within-batch terms (embed_kd) see genuine pairs; 0 = a plain shuffle",
    "train.keep_epochs": "also keep every epoch's checkpoint as checkpoints/epoch-<N>.pt (scored by "
    "tools/epoch_scores.py)",
    "train.channels_last": "channels-last memory format: auto (on for CUDA) | on | off",
    "train.compile": "torch.compile both streams: auto (on for CUDA) | on | off; on needs a C++ compiler on CPU (checked before work)",
    "train.fused_sgd": "fused SGD kernels: auto (on for CUDA) | on | off",
    "train.prefetch": "batches assembled ahead on a background thread (0 = off); bit-neutral (docs/train-speed.md)",
    "train.parallel_streams": "EKD: the teacher's forward and update on a second thread beside the student's; bit-neutral",
    "train.sync_bn": "SyncBatchNorm under torchrun on CUDA",
    "init.run": "transfer: start the streams from this run directory or .pt, with fresh classifiers",
    "init.which": "which checkpoint of that run: best | last",
}


def schema_keys(cls=None, prefix: str = "") -> list[tuple[str, dataclasses.Field, object]]:
    """(dotted key, field, default) for every leaf key of the schema, in schema order."""
    if cls is None:
        from lrface.config.schema import Config

        cls = Config
    obj = cls() if isinstance(cls, type) else cls
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out += schema_keys(value, f"{prefix}{f.name}.")
        else:
            out.append((prefix + f.name, f, value))
    return out


def problems(keys: list[str]) -> list[str]:
    """Keys without a description, and descriptions of keys the schema no longer has."""
    missing = [
        f"{k}: no description in tools/gen_config_reference.py DESCRIPTIONS" for k in keys if k not in DESCRIPTIONS
    ]
    stale = [f"{k}: described but not in the schema" for k in DESCRIPTIONS if k not in keys]
    empty = [f"{k}: description must be one non-empty line" for k, v in DESCRIPTIONS.items() if not v or "\n" in v]
    return missing + stale + empty


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, angle brackets not read as HTML."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _default(value) -> str:
    return f"`{json.dumps(value)}`"


def render(keys=None) -> str:
    keys = schema_keys() if keys is None else keys
    lines = [
        "# Config reference",
        "",
        "<!-- generated by tools/gen_config_reference.py from lrface/config/schema.py; do not edit by hand -->",
        "",
        "Every key a run config (`configs/**/*.yaml`) may set, with its default. Set a key in the YAML file's",
        "section (`train: {epochs: 30}`) or on the command line (`--set train.epochs=30`); unknown keys are",
        "errors. How the keys are used: [train.md](train.md); `embed_kd` and `hr`: [distill.md](distill.md).",
    ]
    section = None
    for key, f, value in keys:
        sec = key.rsplit(".", 1)[0] if "." in key else ""
        if sec != section:
            section = sec
            title = f"`{sec}`: {SECTIONS.get(sec, sec)}" if sec else SECTIONS[""]
            lines += ["", f"## {title}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        lines.append(f"| `{key}` | `{_cell(str(f.type))}` | {_default(value)} | {_cell(DESCRIPTIONS.get(key, ''))} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that the file is current")
    args = ap.parse_args(argv)
    keys = schema_keys()
    bad = problems([k for k, _, _ in keys])
    if bad:
        print("\n".join(bad), file=sys.stderr)
        return 1
    text = render(keys)
    if args.check:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale; run python tools/gen_config_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(keys)} keys)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
