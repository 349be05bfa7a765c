#!/usr/bin/env bash
# Re-run only the 25M throughput part of gpu_check.sh (after a change to the hot path).
set -uo pipefail
OUT="${OUT:-/tmp/gpu_out}"; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "
from recsys.data.prepare import prepare_dataset
prepare_dataset('synthetic', ['data.raw_root=/tmp/syn_raw', 'data.processed_root=/tmp/syn_proc'])" > /dev/null 2>&1
# eager, then with the forward + loss through torch.compile (the warm-up steps absorb the compilation)
for flag in "" "--compile"; do
python3 -m recsys.benchmarks.training --data synthetic --data-overrides data.raw_root=/tmp/syn_raw \
  --processed-root /tmp/syn_proc --device cuda --batch-size 16384 --precision bf16-mixed --loss softmax \
  --epochs 1 --tutorial-steps 200 --warmup 10 $flag --output "$OUT/bench_training_gpu_bs16384${flag/--/_}.json" 2>&1 | tail -45
done
