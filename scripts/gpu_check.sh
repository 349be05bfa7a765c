#!/usr/bin/env bash
# One prepared GPU check (device machine): GPU training, DDP on one GPU, throughput at 25M,
# evaluation speed. Expects wheels for what the machine lacks in .whl/ and writes logs to $OUT.
set -uo pipefail
OUT="${OUT:-/tmp/gpu_out}"; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
log() { echo "=== $(date +%T) $*"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, pytorch_lightning as pl; print('torch', torch.__version__, 'lightning', pl.__version__)" | tee -a "$OUT/gpu.txt"

log "1. trainer=gpu on the bundled data (bf16, 5 epochs)"
python3 train.py trainer=gpu logger=csv trainer.max_epochs=5 trainer.enable_progress_bar=false \
  paths.output_dir=/tmp/run_gpu 2>&1 | grep -E "ndcg@10|recall@10|train |Error|error" | tee "$OUT/gpu_train.txt"
cp /tmp/run_gpu/metrics.json "$OUT/gpu_train_metrics.json" 2>/dev/null

log "2. trainer=ddp on one GPU (2 epochs)"
python3 train.py trainer=ddp trainer.devices=1 logger=none trainer.max_epochs=2 trainer.enable_progress_bar=false \
  paths.output_dir=/tmp/run_ddp 2>&1 | grep -E "ndcg@10|recall@10|train |Error|error|DDP|distributed" | tee "$OUT/ddp_train.txt"

log "3. evaluation speed (162,541 x 59,047, d=128, top-20, masked)"
python3 -m recsys.benchmarks.evaluation --device cuda --backends torch --chunk-size 4096 \
  --output "$OUT/bench_eval.json" 2>&1 | tail -20 | tee "$OUT/bench_eval.txt"

log "4. 25M synthetic: generate + process (timed)"
/usr/bin/time -v python3 -c "
import time, json
from recsys.data.prepare import prepare_dataset
t = time.perf_counter()
d = prepare_dataset('synthetic', ['data.raw_root=/tmp/syn_raw', 'data.processed_root=/tmp/syn_proc'])
print(json.dumps({'seconds_generate_and_process': round(time.perf_counter() - t, 1), **{k: v for k, v in d.statistics.items() if k != 'splits'}}))
" 2>&1 | grep -E "seconds|Maximum resident|Error|error" | tee "$OUT/synthetic_prepare.txt"

log "5. training throughput at 25M: softmax, batch 16384, bf16, one epoch; vs plain loop and per-row Dataset"
python3 -m recsys.benchmarks.training --data synthetic --data-overrides data.raw_root=/tmp/syn_raw \
  --processed-root /tmp/syn_proc --device cuda --batch-size 16384 --precision bf16-mixed --loss softmax \
  --epochs 1 --tutorial-steps 200 --warmup 10 --output "$OUT/bench_training_gpu.json" 2>&1 | tail -45 | tee "$OUT/bench_training_gpu.txt"
log "done"
