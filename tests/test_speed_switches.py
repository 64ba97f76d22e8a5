"""Training speed switches (lrface/engine/speed.py): the same loss as the plain step, bit-exact resume
with them on, the prefetcher changes nothing, and a switch this machine cannot honour is one line, exit 2."""

import numpy as np
import pytest
import torch

from lrface.cli import main
from lrface.distill.strategy import build_strategy
from lrface.engine import speed
from lrface.engine.batches import train_batches
from lrface.engine.build import build_streams
from lrface.engine.trainer import Trainer
from lrface.errors import UserError
from tests.conftest import make_identity_set
from tests.test_engine import assert_same_streams, params, resume, tiny_cfg, tiny_data

BF16 = speed.bf16_supported(torch.device("cpu"))
# The tiny models at 16 channels: narrower, their strided 1x1 shortcuts are layers oneDNN's CPU kernels may train
# wrongly in channels_last, which check_switches refuses (test below).
WIDE = ["teacher.kwargs={widths: [16, 16, 16, 16]}", "student.kwargs={widths: [16, 16, 16, 16]}"]
SWITCHES = {
    "channels_last": (["train.channels_last=on"], 1e-5),
    "fused_sgd": (["train.fused_sgd=on"], 1e-6),
    "bf16": (["train.amp=bf16"], 1e-2),
    "prefetch": (["train.prefetch=2"], 0.0),
    "parallel_streams": (["train.parallel_streams=true"], 0.0),
}
# every switch this CPU can honour (bf16 where it has bfloat16 kernels), on the widened tiny models
ALL_ON = [
    *WIDE,
    "train.channels_last=on",
    "train.fused_sgd=on",
    *(["train.amp=bf16"] if BF16 else []),
    "train.prefetch=2",
    "train.parallel_streams=true",
]


def first_losses(tmp_path, *overrides):
    """Losses of one EKD step (mutual) on the first training batch, and the student's weights after it."""
    torch.manual_seed(0)
    tr = Trainer(
        tiny_cfg("augment.enabled=true", "loss.cross_stream_to_teacher=true", *WIDE, *overrides), tiny_data(), tmp_path
    )
    for m in tr.streams.values():
        m.train()
    x, y, idx = next(speed.prefetched(train_batches(tr, 1), tr.cfg.train.prefetch))
    logs = tr.train_step(x, y, idx)
    return {k: float(v) for k, v in logs.items() if k.startswith("loss_")}, params(tr.streams["student"])


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.skipif(n == "bf16" and not BF16, reason="no bf16")) for n in SWITCHES]
)
def test_a_switch_gives_the_plain_steps_loss(tmp_path, name):
    overrides, tol = SWITCHES[name]
    plain, w_plain = first_losses(tmp_path / "plain")
    on, w_on = first_losses(tmp_path / name, *overrides)
    assert plain.keys() == on.keys() == {"loss_teacher", "loss_student"}
    for k in plain:
        assert on[k] == pytest.approx(plain[k], rel=tol, abs=tol), (k, plain[k], on[k])
    if tol == 0:  # bit-neutral
        assert all(torch.equal(w_plain[k], w_on[k]) for k in w_plain)


def test_resume_stays_bit_exact_with_the_switches_on(tmp_path):
    cfg = tiny_cfg("augment.enabled=true", "train.epochs=3", *ALL_ON)
    full = Trainer(cfg, tiny_data(), tmp_path / "full")
    full.fit()
    Trainer(tiny_cfg("augment.enabled=true", "train.epochs=1", *ALL_ON), tiny_data(), tmp_path / "part").fit()
    resumed = resume(cfg, tmp_path / "part")
    assert resumed.epoch == full.epoch == 3 and resumed.step == full.step
    assert_same_streams(full, resumed)


@pytest.mark.parametrize("mutual", [True, False])
def test_prefetch_and_parallel_streams_train_the_same_weights(tmp_path, mutual):
    runs = []
    for extra in ([], ["train.prefetch=3", "train.parallel_streams=true"]):
        cfg = tiny_cfg("augment.enabled=true", f"loss.cross_stream_to_teacher={mutual}", *extra)
        tr = Trainer(cfg, tiny_data(), tmp_path / str(len(extra)))
        assert (tr.parallel is not None) == bool(extra)
        tr.fit()
        runs.append({s: params(m) for s, m in tr.streams.items()})
    for s in runs[0]:
        assert all(torch.equal(runs[0][s][k], runs[1][s][k]) for k in runs[0][s]), s


def test_prefetch_hands_on_a_producer_error():
    def broken():
        yield 1
        raise UserError("bad batch")

    got = []
    with pytest.raises(UserError, match="bad batch"):
        for b in speed.prefetched(broken(), 2):
            got.append(b)
    assert got == [1]


def train_cli(tmp_path, capsys, *sets):
    data = make_identity_set(tmp_path / "faces", identities=3, per_identity=4, size=16)
    argv = ["train", "--config", "configs/face/orl-smoke.yaml", "--data", str(data), "--out", str(tmp_path / "run")]
    rc = main([*argv, *(a for s in sets for a in ("--set", s))])
    return rc, capsys.readouterr().err


def assert_refused(rc, err, needle, tmp_path):
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert rc == 2 and len(lines) == 1 and needle in lines[0] and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_compile_without_a_compiler_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    monkeypatch.delenv("CXX", raising=False)
    assert speed.cpp_compiler() is None
    rc, err = train_cli(tmp_path, capsys, "train.compile=on", "train.device=cpu")
    assert_refused(rc, err, "needs a C++ compiler", tmp_path)


def test_bf16_without_kernels_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(speed, "bf16_supported", lambda device: False)
    rc, err = train_cli(tmp_path, capsys, "train.amp=bf16", "train.device=cpu")
    assert_refused(rc, err, "train.amp=bf16", tmp_path)


def test_channels_last_where_onednn_trains_a_layer_wrongly_is_one_line_exit_2(tmp_path, capsys):
    rc, err = train_cli(tmp_path, capsys, "train.channels_last=on", "train.device=cpu", "student.arch=resnet_tiny")
    assert_refused(rc, err, "student layer backbone.blocks.1.0.shortcut.0 (1x1, stride 2, 4 input channels)", tmp_path)


def test_the_onednn_hazard_is_the_strided_1x1_convolution_under_16_channels():
    cpu = torch.device("cpu")

    def streams(*overrides):
        cfg = tiny_cfg(*overrides)
        return build_streams(cfg, build_strategy(cfg), num_classes=3)

    hazard = "teacher layer backbone.blocks.1.0.shortcut.0 (1x1, stride 2, 4 input channels)"
    assert speed.onednn_1x1_hazard(streams()) == hazard  # 4 channels into the first strided stage
    assert speed.onednn_1x1_hazard(streams(*WIDE)) is None
    narrow = "student.kwargs={widths: [8, 8, 16, 16]}"  # 8: right on AVX2, not measured on AVX-512
    assert "8 input channels" in speed.onednn_1x1_hazard(streams(*WIDE, narrow))
    with pytest.raises(UserError, match="4 input channels"):
        speed.check_switches(tiny_cfg("train.channels_last=on"), cpu)
    speed.check_switches(tiny_cfg("train.channels_last=on", *WIDE), cpu)
    speed.check_switches(tiny_cfg("train.channels_last=off"), cpu)


def test_parallel_streams_with_compile_is_one_line_exit_2(tmp_path, capsys):
    rc, err = train_cli(tmp_path, capsys, "train.parallel_streams=true", "train.compile=on")
    assert_refused(rc, err, "train.compile=off", tmp_path)


def test_prefetch_depth_must_be_a_whole_number(tmp_path, capsys):
    rc, err = train_cli(tmp_path, capsys, "train.prefetch=-1")
    assert rc == 2 and "train.prefetch" in err and len(err.strip().splitlines()) == 1


def bench_rows(capsys, monkeypatch, refuse_bf16: bool, switches: str = "bf16,prefetch") -> tuple[list[str], str]:
    """tools/bench_train.py's switch table at batch 64, the steps faked (bf16 twice as fast)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("bench_train", "tools/bench_train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def check(cfg, device):
        if refuse_bf16 and cfg.train.amp == "bf16":
            raise UserError("train.amp=bf16: no bfloat16 kernels")

    monkeypatch.setattr(bench, "check_switches", check)
    monkeypatch.setattr(
        bench.LoopCell, "__init__", lambda self, cfg, *a: self.__dict__.update(cfg=cfg, bs=cfg.train.batch_size)
    )
    monkeypatch.setattr(bench.LoopCell, "run", lambda self, steps, skip: None)
    monkeypatch.setattr(bench.LoopCell, "img_per_s", lambda self: 2.0 if self.cfg.train.amp == "bf16" else 1.0)
    monkeypatch.setattr(bench.LoopCell, "img_per_cpu_s", lambda self: 1.0)
    argv = ["bench_train.py", "--config", "configs/face/packaged-student.yaml", "--no-table", "--with-data"]
    monkeypatch.setattr(sys, "argv", [*argv, "--batch-sizes", "64", "--switches", switches])
    bench.main()
    out = capsys.readouterr().out
    return [r for r in out.splitlines() if r.startswith("| ") and not r.startswith("| batch")], out


def test_bench_switch_table_lists_each_switch_with_its_ratio(capsys, monkeypatch):
    rows, _ = bench_rows(capsys, monkeypatch, refuse_bf16=False)
    assert [r.split("|")[2].strip() for r in rows] == ["off", "bf16", "prefetch"]
    assert [r.split("|")[5].strip() for r in rows] == ["1.00", "2.00", "1.00"]
    assert np.isfinite(float(rows[0].split("|")[4]))


def test_bench_row_that_changes_the_batch_shows_its_own_batch(capsys, monkeypatch):
    rows, _ = bench_rows(capsys, monkeypatch, refuse_bf16=False, switches="prefetch,speed_fp32+batch256")
    assert [(r.split("|")[1].strip(), r.split("|")[2].strip()) for r in rows] == [
        ("64", "off"),
        ("64", "prefetch"),
        ("256", "speed_fp32+batch256"),
    ]


def test_bench_says_why_it_skips_a_switch_this_machine_refuses(capsys, monkeypatch):
    rows, out = bench_rows(capsys, monkeypatch, refuse_bf16=True)
    assert [r.split("|")[2].strip() for r in rows] == ["off", "prefetch"]
    assert "# bf16 not measured: train.amp=bf16: no bfloat16 kernels" in out.splitlines()


def test_parallel_streams_on_more_threads_than_cores_is_warned():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    two = tiny_cfg("train.parallel_streams=true", "train.threads=2")
    assert "train.threads=1" in speed.oversubscribed(two, cpu, cores=2)
    assert "train.threads=2" in speed.oversubscribed(tiny_cfg("train.parallel_streams=true", "train.threads=3"), cpu, 4)
    assert speed.oversubscribed(two, cpu, cores=4) is None
    assert speed.oversubscribed(tiny_cfg("train.parallel_streams=true", "train.threads=1"), cpu, cores=2) is None
    assert speed.oversubscribed(tiny_cfg("train.threads=2"), cpu, cores=2) is None
    assert speed.oversubscribed(two, cuda, cores=2) is None
