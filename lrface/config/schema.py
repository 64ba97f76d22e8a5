"""The run configuration's schema: one dataclass per config section, defaults and what each key means."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class DataConfig:
    kind: str = "auto"  # auto | packed | folder | cifar10 | cifar100 | tiny-imagenet
    path: str | list = ""  # packed set, identity folder or dataset root (--data / $LRFACE_DATA override);
    #                             a list of packed sets / identity folders trains on all of them (data/multi.py)
    exclude: str | list = field(default_factory=list)  # packed sets / identity folders whose identity names are
    #                             left out of training (transfer pretraining without the target set; data/exclude.py)
    merge: str = "source"  # several sources: source (<source>/<identity> classes) | name (equal names merge)
    val_identities: float = 0.0  # open-set validation: fraction (< 1) or count of identities held out of training
    val_source: int | None = None  # an index: draw them among this data.path entry's identities only (data/multi.py)
    val_pairs: int = 3000  # same-person (and as many different-person) pairs among them, scored every epoch
    image_size: int = 16
    test_fraction: float = 0.2  # per-identity test split when the set has a single split
    val_fraction: float = 0.0  # held out of the training split for model choices (never tune on test)
    fraction: float = 1.0  # few-sample subset: fraction of each class's training images (Fig. 7)
    min_per_class: int = 2
    low_res: bool = False  # classification: downsample to image_size (Fig. 6)
    download: bool = False  # classification: let torchvision download CIFAR when online
    cache: bool = True  # identity folders: cache the resized arrays beside the run
    allow_no_face: bool = False  # train on a packed set in which lrface prepare found no face (else exit 2)


@dataclass
class AugmentConfig:
    enabled: bool = True
    flip: bool = True
    shift: float = 0.0625  # fraction of the side (albumentations: whole pixels, at least one; torch: sub-pixel)
    shift_p: float = 1.0  # share of images the shift is drawn for (the rest keep their place); 1 = every image
    scale: float = 0.1
    rotate: float = 0.0
    brightness_contrast: float = 0.2
    pad_crop: int = 0  # classification: random crop with this much padding
    independent: bool = True  # each stream gets its own draw ("incomplete synchronization")
    backend: str = "auto"  # auto (torch on CUDA, albumentations on CPU and with degrade) | albumentations | torch
    # train-time degradation (data/degrade.py): the training split of packed sets stays at the size they were prepared
    # at (larger than data.image_size), and every draw renders a fresh low-resolution view of each face; test, val and
    # val_open are resized once, as without it. Albumentations backend only; packed sets only.
    degrade: bool = False
    degrade_filters: list = field(default_factory=lambda: ["area", "bilinear", "bicubic"])  # down-sampling filter drawn
    #                             per image: area | bilinear | bicubic | nearest | lanczos
    degrade_blur: float = 0.0  # max Gaussian blur sigma (pixels at the native size), drawn in [0, max]; 0 = off
    degrade_noise: float = 0.0  # max Gaussian noise std (0..255 units, at data.image_size), drawn in [0, max]; 0 = off
    degrade_jpeg: int = 0  # min JPEG quality, drawn per image in [q, 95] (at data.image_size); 0 = off
    # photometric lighting (data/lighting.py, both backends; off by default): directional shading, gamma, grey
    lighting: float = 0.0  # probability per image of a directional shading (a linear ramp at a random angle); 0 = off
    lighting_strength: float = 0.5  # max shading strength s: intensities multiplied between 1 - s and 1 + s
    gamma: float = 0.0  # max |ln gamma|: every image gets 255 (x/255)^g, g uniform in [e^-gamma, e^gamma]; 0 = off
    grey: float = 0.0  # probability per image of grey conversion (0.299 R + 0.587 G + 0.114 B); 0 = off


@dataclass
class PreprocessConfig:
    mean: list = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list = field(default_factory=lambda: [0.5, 0.5, 0.5])


@dataclass
class StreamConfig:
    arch: str = ""
    guided: bool = True  # T_G / S_G of Table V
    kwargs: dict = field(default_factory=dict)


@dataclass
class TeacherConfig(StreamConfig):
    arch: str = "resnet50"
    mode: str = "evolutionary"  # evolutionary (online) | fixed (pre-trained, frozen)
    checkpoint: str = ""  # fixed teacher, or starting point of an evolutionary one


@dataclass
class GuidedConfig:
    count: int = 3  # guided module pairs, 0..C-1 (Fig. 4)
    blocks: list = field(default_factory=list)  # explicit 1-based block indices; overrides count
    dim: int = 0  # shared D; 0 = the student's feature size
    width: int = 64  # bottleneck width inside a guided module


@dataclass
class HeadConfig:
    type: str = "softmax"  # models/heads.py HEAD_TYPES: softmax (the paper), cosface, arcface; both streams
    s: float = 30.0  # scale of the cosine logits (margin heads)
    m: float = 0.35  # margin: CosFace subtracts m from cos, ArcFace adds m (radians) to the angle


@dataclass
class LossConfig:
    temperature: float = 4.0
    ce: float = 1.0  # L_L, Eq. 9
    within_kl: float = 1.0  # L_D, Eq. 3
    within_l2: float = 1.0  # L_F, Eq. 4
    cross_kl: float = 1.0  # L_G1, Eq. 6
    cross_l2: float = 1.0  # L_G2, Eq. 7
    cross_kl_pairs: float = 1.0  # weight of the guided-pair terms inside L_G1 (Eq. 6) next to the head term
    within_teachers: str = "head"  # head | all_deeper
    l2_reduction: str = "element_mean"  # Eq. 4, 7: element_mean (MSE) | squared_norm (the paper's ||.||^2, D x larger)
    cross_stream_to_teacher: bool = False
    spread: float = 0.0  # weight of the spread-out term on the student's embeddings (distill/spread.py); 0 = off
    supcon: float = 0.0  # weight of the supervised contrastive term on the student's embeddings (distill/supcon.py)
    supcon_tau: float = 0.1  # its temperature
    warmup_epochs: int = 0  # ramp every distillation term (not ce) linearly from 1/n to 1 over n epochs
    cross_warmup_epochs: int = (
        0  # the same ramp for the cross-stream terms only (Eq. 6, 7): the online teacher is weak early
    )


@dataclass
class HrConfig:
    """Cross-resolution distillation from the packed set's HR-teacher descriptors (lrface/distill/hr.py)."""

    point: float = 0.0  # weight of L_HR-point (the projected student feature vs the descriptor); 0 = off
    point_kind: str = "cosine"  # cosine | l2
    relation: float = 0.0  # weight of L_HR-rel (within-batch similarity structure); 0 = off
    relation_kind: str = "mse"  # mse | kl
    tau: float = 0.1  # temperature of the kl relation
    relation_center: bool = True  # compare batch-centred similarity structures (the student's features are >= 0)
    proto: float = 0.0  # weight of L_HR-proto (the teacher's similarities to class prototypes as soft labels)
    proto_tau: float = 0.1  # temperature of those soft labels (0.1 with center: ~0.8 on the own class)
    warmup_epochs: int = 0  # ramp both weights linearly from 1/n to 1 over n epochs
    center: bool = False  # subtract the training split's mean descriptor from the targets (then renormalise)


@dataclass
class EmbedKdConfig:
    """Distillation from a frozen exported embedding model, e.g. a packaged ensemble (lrface/distill/embed_kd.py)."""

    model: str = ""  # a packaged model's name or an .onnx of `lrface export`; needed when weight > 0
    weight: float = 0.0  # weight of L_emb-rel (the model's within-batch cosine structure); 0 = off
    teacher_weight: float = 0.0  # the same term on the trained teacher, on its own augmented view; 0 = off
    # weight of L_emb-point: 1 - cos(P f, t) of the student's feature f through a training-only linear projection P
    # (its width -> the model's) against the model's embedding t of the same view; 0 = off
    point: float = 0.0
    kind: str = "kl"  # kl | mse
    tau: float = 0.1  # temperature of the kl form
    warmup_epochs: int = 0  # ramp the weight linearly from 1/n to 1 over n epochs
    # > 0 (kl form, the student's term): each row also reaches this many earlier training images (a FIFO of the
    # student's detached embeddings and the model's), more impostors per row; 0 = the batch only
    memory: int = 0
    # packed sets / identity folders whose faces only the student's embed_kd terms learn from (no label is read):
    # each step appends unlabeled_batch of them, augmented as the student's view, to the student's batch
    unlabeled: str | list = field(default_factory=list)
    unlabeled_batch: int = 64


@dataclass
class OptimConfig:
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    schedule: str = "step"  # step (milestones x gamma) | cosine (half a cosine from lr after the warm-up)
    milestones: list = field(default_factory=lambda: [75, 130, 180])
    gamma: float = 0.1
    warmup_epochs: int = 0  # lr rises linearly from lr/n to lr over the first n epochs
    teacher_milestones: list = field(default_factory=list)  # the trained teacher's own lr steps (empty: milestones)


@dataclass
class TrainConfig:
    epochs: int = 200
    batch_size: int = 64
    seed: int = 5
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "none"  # none | bf16
    threads: int = 0  # torch CPU threads; 0 = leave as is
    max_steps: int = 0  # stop after this many steps in total (smoke tests); 0 = no limit
    log_every: int = 20
    eval_batch_size: int = 512
    select_on: str = "student"  # which stream's score picks best.pt: student | teacher | student_ema
    select_metric: str = "acc"  # with an open-set validation, what picks best.pt: acc (10-fold) | dense_tar1e-3
    # > 0: keep an exponential moving average of the student's weights and BN statistics, updated after every
    # student step (torch.optim.swa_utils; decay d: ema = d * ema + (1 - d) * weights); validated each epoch as
    # stream student_ema, exported with `lrface export --ema`; 0 = off
    ema_decay: float = 0.0
    # >= 2: batches of identity groups (lrface/data/sampling.py): each identity's images in runs of this many, the
    # runs shuffled, so within-batch terms (embed_kd) see genuine pairs; 0 = a plain shuffle
    per_identity: int = 0
    keep_epochs: bool = False  # also keep every epoch's checkpoint, checkpoints/epoch-<N>.pt (tools/epoch_scores.py)
    # speed switches (engine/speed.py, docs/train-speed.md): auto = on where they help (CUDA), off on CPU
    channels_last: str = "auto"
    compile: str = "auto"  # torch.compile both streams; falls back to eager with a message
    fused_sgd: str = "auto"
    prefetch: int = 0  # batches assembled ahead on a background thread (augmentation beside the step); 0 = off
    parallel_streams: bool = False  # EKD: teacher and student forward/update on two threads (bit-identical)
    sync_bn: bool = True  # under torchrun on CUDA: SyncBatchNorm (PyTorch has none for CPU/gloo)


@dataclass
class InitConfig:
    run: str = ""  # transfer: start the streams from this run (dir or .pt), classifiers fresh
    which: str = "best"  # best | last checkpoint of that run


@dataclass
class Config:
    name: str = "run"
    strategy: str = (
        "ekd"  # a registered strategy (lrface/distill/strategies/): ekd, student-only, teacher-only, kd, byot
    )
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    student: StreamConfig = field(default_factory=lambda: StreamConfig(arch="sresnet18"))
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    guided: GuidedConfig = field(default_factory=GuidedConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    hr: HrConfig = field(default_factory=HrConfig)
    embed_kd: EmbedKdConfig = field(default_factory=EmbedKdConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    init: InitConfig = field(default_factory=InitConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
