#!/usr/bin/env bash
# Issue 21's data-doubling comparison on one lent GPU, in one sitting: the packaged recipe
# (configs/face/packaged-student.yaml) trained on wild-dev + deep ("base") and on wild-dev + deep +
# extra ("x2"), one run per seed and set, all side by side on the GPU, on one open-set validation per
# seed (data.val_source=1: the held-out identities are drawn among celeba-deep16's only, so a seed's
# base and x2 runs are scored on the same pairs); then every student is exported to ONNX.
#
#   bash tools/gpu_retrain.sh DATA_DIR [TRAIN_BUDGET_S]
#
# DATA_DIR holds celeba-wild16, celeba-deep16 and celeba-wild-extra16 (`lrface prepare folder`
# outputs). A GPU step at the paper's batch of 64 is launch-bound, so the runs use batch BATCH
# (default 256) with lr LR (default 0.2, the square-root scaling of 0.1 at 64) and a one-epoch lr
# warm-up; the epoch count is the packaged 60 when it fits TRAIN_BUDGET_S, else the most that fits
# (from a measured EKD step), with the lr steps and the distillation ramp kept at the recipe's
# fractions (36/60, 50/60, 10/60); FINETUNE=1 then continues each x2 run with a CosFace head and a softmax
# control (stage 4). SETS (default "base x2") may add x2alb: the x2 run with the CPU's augmentation path
# (augment.backend=albumentations), the GPU-CPU difference of results/2026-12-04-x2-cosface-cpu.md (whole
# unaligned ORL faces: 181 vs 153 of 200 named) side by side, and x2hs: the default sr18-celeba-x2hs's half-pixel shift
# with scale 0.8-1.2 (configs/face/packaged-student-x2-halfshift.yaml), and x2hsemb: that with a signed embedding
# layer (configs/face/packaged-student-x2hs-emb.yaml), and x2hsembkd: that with the packaged trio distilled in
# (configs/face/packaged-student-x2hs-emb-trio-kd.yaml, the default's recipe). MAX_EPOCHS (default 60) caps the epochs
# that fit: the longer plan is e.g. SETS="x2hsemb x2hsembkd" SEEDS="5 6 7 8" MAX_EPOCHS=120. Runs land in $WORK; runs-s<seed>.tgz (logs, metrics, config, ONNX; no checkpoints) and
# the tables in $OUT. A CPU dry run: DEVICE=cpu EPOCHS=1 MAX_STEPS=3 SEEDS=5 FINETUNE=1 bash tools/gpu_retrain.sh DIR
set -u
OUT=${OUT:-gpu-out}
DATA=$1
BUDGET=${2:-380}
SEEDS=${SEEDS:-5 6 7}
SETS=${SETS:-base x2}
BATCH=${BATCH:-256}
LR=${LR:-0.2}
WORK=${WORK:-/tmp/lrface-retrain}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
CONFIG=configs/face/packaged-student.yaml
W=$DATA/celeba-wild16; D=$DATA/celeba-deep16; X=$DATA/celeba-wild-extra16
declare -A RECIPES=(  # set name -> "config|data paths|extra keys": the one list of sets
  [base]="$CONFIG|[$W,$D]|"
  [x2]="$CONFIG|[$W,$D,$X]|"
  [x2alb]="$CONFIG|[$W,$D,$X]|--set augment.backend=albumentations"
  [x2hs]="configs/face/packaged-student-x2-halfshift.yaml|[$W,$D,$X]|"
  [x2hsemb]="configs/face/packaged-student-x2hs-emb.yaml|[$W,$D,$X]|"
  [x2hsembkd]="configs/face/packaged-student-x2hs-emb-trio-kd.yaml|[$W,$D,$X]|"
)
recipe() {  # sets cfg, paths and extra for set $1; fails on a name RECIPES lacks
  [ -n "${RECIPES[$1]+x}" ] || return 1
  IFS='|' read -r cfg paths extra <<< "${RECIPES[$1]}"
}
for set in $SETS; do  # before any work: a misspelt set would otherwise cost the GPU's time
  recipe "$set" || { echo "gpu_retrain.sh: unknown set '$set' in SETS; use one of: $(printf '%s\n' "${!RECIPES[@]}" | sort | xargs)" >&2; exit 2; }
done
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1
t0=$(date +%s)
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null; nproc
  $PY -c "import sys, torch, albumentations, cv2, numpy, onnxruntime
print(sys.version.split()[0], 'torch', torch.__version__, 'albumentations', albumentations.__version__,
      'ort', onnxruntime.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# 1. the EKD step's speed at BATCH with the doubled set's class count: sets the epochs that fit
if [ -z "${EPOCHS:-}" ]; then
  timeout 120 $PY tools/bench_train.py --config $CONFIG --classes 1464 --device "$DEVICE" --batch-sizes "$BATCH" \
      --steps 20 --warmup 5 --set train.compile=off --json "$OUT/bench_train.json" > "$OUT/bench_train.md" 2>&1
  echo "== bench_train rc=$? ($(( $(date +%s) - t0 )) s)"; cat "$OUT/bench_train.md"
fi
read -r EPOCHS MS RAMP < <($PY - "$OUT/bench_train.json" "$BUDGET" "$DATA" "${EPOCHS:-0}" "$BATCH" "$SEEDS" "$SETS" "${MAX_EPOCHS:-60}" <<'EOF'
import json, sys
path, budget, data, epochs, batch, seeds, sets = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6].split(), sys.argv[7].split()
most = int(sys.argv[8])
if not epochs:
    try:
        rate = json.load(open(path))["img_per_s"][f"ekd@{batch}"]
    except (OSError, KeyError, ValueError):
        rate = 6000.0                               # the bench failed: a conservative guess for one H200
    n = sum(json.load(open(f"{data}/{s}/manifest.json"))["splits"]["all"] for s in ("celeba-wild16", "celeba-deep16", "celeba-wild-extra16"))
    jobs = len(sets) * len(seeds)
    share = max(1.0, jobs / 2.5)                    # jobs time-share the GPU; ~2.5 launch-bound ones overlap
    per_epoch = n / (rate / share) * 1.2 + 1.0      # + augmentation, the epoch's validation, checkpoints
    epochs = max(10, min(most, int(budget / per_epoch) // 5 * 5))
print(epochs, f"[{round(epochs * 36 / 60)},{round(epochs * 50 / 60)}]", max(1, round(epochs / 6)))
EOF
)
echo "== $EPOCHS epochs, lr steps $MS, distillation ramp $RAMP epochs, batch $BATCH, lr $LR"

# 2. base and x2 for every seed, side by side
pids=()
for seed in $SEEDS; do
  for set in $SETS; do
    recipe "$set"
    timeout $(( BUDGET + 60 )) $PY -m lrface.cli train --config $cfg --out "$WORK/$set-s$seed" --force \
        --set "data.path=$paths" --set data.val_source=1 --set train.seed=$seed \
        --set train.epochs=$EPOCHS --set "optim.milestones=$MS" --set loss.warmup_epochs=$RAMP \
        --set train.batch_size=$BATCH --set optim.lr=$LR --set optim.warmup_epochs=1 \
        --set train.device="$DEVICE" --set train.compile=off --set train.threads=2 \
        $extra ${MAX_STEPS:+--set train.max_steps=$MAX_STEPS} > "$WORK/$set-s$seed.log" 2>&1 &
    pids+=($!)
  done
done
for p in "${pids[@]}"; do wait "$p"; echo "== train pid $p rc=$? ($(( $(date +%s) - t0 )) s)"; done

# 3. every student to ONNX (verified against torch), side by side
for r in "$WORK"/*-s*/; do
  (timeout 120 $PY -m lrface.cli export --onnx "$r" > "${r%/}.export.log" 2>&1; echo "== export $r rc=$?") &
done
wait
# 4. FINETUNE=1 (issue 21 item 3): each x2 run continued FT_EPOCHS (5) epochs from its best.pt with fresh
# classifiers, CosFace (configs/face/packaged-student-x2-cosface-ft.yaml) against the softmax control, side by side
FT=()
if [ "${FINETUNE:-0}" = 1 ]; then
  pids=()
  for seed in $SEEDS; do
    for head in softmax cosface; do
      n=x2ft-$head-s$seed; FT+=($n $n.log $n.export.log)
      timeout $(( BUDGET / 4 + 60 )) $PY -m lrface.cli train --config configs/face/packaged-student-x2-cosface-ft.yaml \
          --init "$WORK/x2-s$seed" --out "$WORK/$n" --force --set "data.path=[$W,$D,$X]" --set head.type=$head \
          --set train.seed=$seed --set train.epochs=${FT_EPOCHS:-5} --set train.device="$DEVICE" \
          --set train.compile=off --set train.threads=2 ${MAX_STEPS:+--set train.max_steps=$MAX_STEPS} > "$WORK/$n.log" 2>&1 &
      pids+=($!)
    done
  done
  for p in "${pids[@]}"; do wait "$p"; echo "== fine-tune pid $p rc=$? ($(( $(date +%s) - t0 )) s)"; done
  for r in "$WORK"/x2ft-*/; do
    (timeout 120 $PY -m lrface.cli export --onnx "$r" > "${r%/}.export.log" 2>&1; echo "== export $r rc=$?") &
  done
  wait
fi
for seed in $SEEDS; do   # one archive per seed: a file that comes back is at most 16 MB
  tar czf "$OUT/runs-s$seed.tgz" --exclude='tb' --exclude='checkpoints' -C "$WORK" \
      $(for set in $SETS; do echo $set-s$seed $set-s$seed.log $set-s$seed.export.log; done) $(printf '%s\n' "${FT[@]}" | grep -- "-s$seed")
done
for f in "$WORK"/*.log; do echo "== $f"; grep -v "it/s\]" "$f" | tail -4; done
echo "== done ($(( $(date +%s) - t0 )) s)"
