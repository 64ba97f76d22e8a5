#!/usr/bin/env bash
# The GPU measurements of results/2026-11-26-*.md in one sitting on a CUDA machine (written for one H100/H200 with
# 16 CPU cores): serving on the machine's CPU cores, training-step throughput with the speed
# switches, and the CelebA-wild benchmark in the paper's GPU setting, sized to a time budget.
#
#   bash tools/gpu_measure.sh PACKED_SET [BENCHMARK_BUDGET_S] [TOTAL_S]
#
# PACKED_SET is the benchmark's frozen train/test set (OUT/data of a CPU `lrface benchmark`, or
# `lrface prepare`'s output), so the GPU run sees the same split as the CPU one. The epoch count is
# the config's (the paper's 200) when it fits the budget, else the most that fits (its lr steps
# scaled to it); torch.compile is timed last with what is left of TOTAL_S. The
# benchmark works in $WORK; the tables, logs and bench.tgz (results, pictures, per-epoch metrics)
# land in $OUT (default gpu-out).
set -u
OUT=${OUT:-gpu-out}
DATA=$1
BUDGET=${2:-330}
TOTAL=${3:-510}
WORK=${WORK:-/tmp/lrface-gpu}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
BT_BATCHES=${BT_BATCHES:-64 256 1024}   # a CPU dry run: BT_BATCHES=64 BT_EXTRA="--steps 1 --warmup 1"
BT_EXTRA=${BT_EXTRA:---steps 10 --warmup 3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
t0=$(date +%s)
left() { echo $(( t0 + TOTAL - $(date +%s) )); }

{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; nproc
  $PY -c "import sys, torch, onnxruntime, faiss, albumentations, cv2, numpy
print(sys.version.split()[0], 'torch', torch.__version__, 'ort', onnxruntime.__version__, 'faiss', faiss.__version__,
      'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# 1. serving on this machine's CPU cores (the ANN goal at 1M was met on 2 cores; not repeated)
timeout 120 $PY tools/bench_identify.py --sizes 10000 --indexes flat,hnsw > "$OUT/bench_identify.md" 2>&1
echo "== bench_identify rc=$? ($(( $(date +%s) - t0 )) s)"

# 2. training-step throughput: step kinds at three batch sizes, then the switches (compile last)
timeout 150 $PY tools/bench_train.py --device "$DEVICE" --batch-sizes $BT_BATCHES $BT_EXTRA \
    --switches bf16,channels_last,fused_sgd,fast --json "$OUT/bench_train.json" > "$OUT/bench_train.md" 2>&1
echo "== bench_train rc=$? ($(( $(date +%s) - t0 )) s)"

# 3. the benchmark: epochs that fit the budget, from the measured batch-64 step times, the set's
#    size and the plan's config (its lr steps scaled to the epochs); EPOCHS=N fixes the count
PLAN=configs/face/celeba-wild-benchmark-gpu.yaml
read -r EPOCHS MS < <($PY - "$OUT/bench_train.json" "$BUDGET" "$DATA" "$PLAN" "${EPOCHS:-0}" <<'EOF'
import json, sys
from lrface.benchmark import read_plan
from lrface.config import load_config
cfg = load_config(read_plan(sys.argv[4]).config)
epochs = int(sys.argv[5])
if not epochs:
    r = json.load(open(sys.argv[1]))["img_per_s"]
    n_train = json.load(open(f"{sys.argv[3]}/manifest.json"))["splits"]["train"]
    steps = int(n_train * (1 - cfg.data.val_fraction)) // cfg.train.batch_size
    step = 64 / r["teacher@64"] + 64 / r["ekd@64"]      # teacher-only, then ekd-warm after it
    per_epoch = steps * step * 2.0 + 1.0                   # 2x for six jobs on one GPU; + eval and checkpoints
    epochs = max(30, min(cfg.train.epochs, int((float(sys.argv[2]) - 60) / per_epoch) // 10 * 10))
print(epochs, "[" + ",".join(str(round(m * epochs / cfg.train.epochs)) for m in cfg.optim.milestones) + "]")
EOF
)
echo "== benchmark: $EPOCHS epochs, milestones $MS"
timeout "$BUDGET" $PY -m lrface.cli benchmark --plan "$PLAN" --data "$DATA" \
    --out "$WORK/bench" --jobs 6 --set train.epochs=$EPOCHS --set "optim.milestones=$MS" --set train.threads=2 \
    --set train.compile=off --set train.device="$DEVICE" > "$OUT/benchmark.log" 2>&1
echo "== benchmark rc=$? ($(( $(date +%s) - t0 )) s)"

# 4. torch.compile (and all switches) at the largest batch, with what time is left
if [ "$(left)" -gt 45 ]; then
  timeout "$(left)" $PY tools/bench_train.py --device "$DEVICE" --batch-sizes ${BT_BATCHES##* } $BT_EXTRA \
      --no-table --switches all --json "$OUT/bench_compile.json" > "$OUT/bench_compile.md" 2>&1
  echo "== bench_compile rc=$? ($(( $(date +%s) - t0 )) s)"
fi

tar czf "$OUT/bench.tgz" --exclude='*.pt' --exclude='*.onnx' --exclude='tb' --exclude='data' -C "$WORK" bench
for f in bench_identify.md bench_train.md bench_compile.md; do [ -f "$OUT/$f" ] && { echo "== $f"; tail -25 "$OUT/$f"; }; done
echo "== benchmark log"; grep -v "^epoch \|it/s\]" "$OUT/benchmark.log" | tail -30
[ -f "$WORK/bench/results.md" ] && cat "$WORK/bench/results.md"
