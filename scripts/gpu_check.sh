#!/usr/bin/env bash
# One prepared GPU check for a 15-minute device lease (H200, 16 cores, no internet). Steps run in
# order of value, each under its own `timeout` and within an overall budget; a failed or skipped
# step is logged and the next one runs. Everything goes to $OUT: <step>.log, <step>.time
# (/usr/bin/time -v: peak RSS), the benchmarks' JSON, summary.tsv and summary.md.
#
#   OUT=/tmp/gpu_out bash scripts/gpu_check.sh                    # on the device machine
#   GPU_CHECK_SMOKE=1 OUT=/tmp/smoke bash scripts/gpu_check.sh    # tiny sizes on the CPU: checks every command line
#
# Settings (environment): GPU_CHECK_STEPS (comma-separated subset of $ALL_STEPS, default all),
# GPU_CHECK_BUDGET_S (seconds for the whole run, default 570: a step that does not fit in what is
# left is skipped), GPU_CHECK_WORK (scratch folder, default /tmp/gpu_check; generated data is
# reused when it is already there). Missing packages: wheels in .whl/ are installed to /tmp/site.
set -uo pipefail
OUT="${OUT:-/tmp/gpu_out}"; mkdir -p "$OUT"
SMOKE="${GPU_CHECK_SMOKE:-0}"
BUDGET="${GPU_CHECK_BUDGET_S:-570}"
WORK="${GPU_CHECK_WORK:-/tmp/gpu_check}"; mkdir -p "$WORK"
ALL_STEPS="setup,eval,generate,process,train_eager,train_compile,train_cudagraphs,full_softmax,e2e_train,e2e_eval,e2e_package,softmax_mask,eval_tf32,full_softmax_compile"
STEPS="${GPU_CHECK_STEPS:-$ALL_STEPS}"
START=$(date +%s)
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled BENTOML_DO_NOT_TRACK=True BENTOML_HOME="$WORK/bentoml"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ "$SMOKE" = 1 ]; then  # every command at toy size on the CPU (minutes on 2 cores, most of it torch.compile)
  DEVICE=cpu; PRECISION=32-true; TRAINER=(trainer=cpu); EVAL_ACC=cpu
  GEN=(data.generator.n_users=3000 data.generator.n_items=1000 data.generator.n_ratings=150000)
  EVAL_SIZE=(--users 3000 --items 2000); CHUNKS=(512 1024); REPEAT=1
  BS=512; FULL_BS=256; N_STEPS=5; WARMUP=2; TUT=2; MASK_STEPS=3; E2E=(batch_size=1024 eval.chunk_size=1024)
else
  DEVICE=cuda; PRECISION=bf16-mixed; TRAINER=(); EVAL_ACC=gpu  # experiment=ml25m_two_tower selects trainer=gpu
  GEN=(); EVAL_SIZE=(); CHUNKS=(4096 8192 16384); REPEAT=3
  BS=16384; FULL_BS=4096; N_STEPS=500; WARMUP=20; TUT=20; MASK_STEPS=50; E2E=()
fi
DATA=(data=synthetic "data.raw_root=$WORK/raw" "data.processed_root=$WORK/processed" "${GEN[@]}")
BENCH=(--data synthetic --data-overrides "data.raw_root=$WORK/raw" "${GEN[@]}" --processed-root "$WORK/processed"
       --device "$DEVICE" --precision "$PRECISION" --warmup "$WARMUP")
RUN="$WORK/run"

log() { echo "=== $(date +%T) +$(( $(date +%s) - START ))s $*"; }
want() { [[ ",$STEPS," == *",$1,"* ]]; }
SUMMARY="$OUT/summary.tsv"; printf 'step\tstatus\tseconds\tpeak_rss_mb\n' > "$SUMMARY"
TIME=(); [ -x /usr/bin/time ] && TIME=(/usr/bin/time -v -o)

# step NAME EXPECTED_S MAX_S COMMAND...: run COMMAND if it was asked for and ~EXPECTED_S are left,
# killed after min(MAX_S, what is left); output in $OUT/NAME.log, resources in $OUT/NAME.time.
step() {
  local name=$1 expect=$2 max=$3; shift 3
  want "$name" || return 0
  local left=$(( BUDGET - ($(date +%s) - START) ))
  if (( left < expect )); then
    log "$name: SKIPPED, $left s left of the budget, it needs ~$expect s"
    printf '%s\tskipped\t0\t\n' "$name" >> "$SUMMARY"; return 0
  fi
  local limit=$(( max < left ? max : left )) t0; t0=$(date +%s)
  log "$name (limit ${limit}s): $*"
  if [ ${#TIME[@]} -gt 0 ]; then
    "${TIME[@]}" "$OUT/$name.time" timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  else
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  fi
  local rc=$? status=ok rss=""
  if (( rc == 124 || rc == 137 )); then status=timeout; elif (( rc != 0 )); then status="failed($rc)"; fi
  [ -f "$OUT/$name.time" ] && rss=$(awk -F': ' '/Maximum resident/ {print int($2 / 1024)}' "$OUT/$name.time")
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(( $(date +%s) - t0 ))" "$rss" >> "$SUMMARY"
  tail -n 4 "$OUT/$name.log" | cut -c1-300
  log "$name: $status in $(( $(date +%s) - t0 )) s, peak RSS ${rss:-?} MB"
}

# --- helper programs (timeout runs programs, not shell functions)
PY="$WORK/py"; mkdir -p "$PY"
cat > "$PY/imports.py" <<'EOF'
import importlib, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
for name in ["pytorch_lightning", "hydra", "omegaconf", "duckdb", "pyarrow", "pandas", "scipy", "triton",
             "bentoml", "qdrant_edge", "faiss"]:
    try:
        module = importlib.import_module(name)
        print(f"ok      {name} {getattr(module, '__version__', '')}")
    except Exception as error:  # noqa: BLE001 - report and go on
        print(f"MISSING {name}: {type(error).__name__}: {error}")
EOF
cat > "$PY/data_stage.py" <<'EOF'
# data_stage.py generate|process OVERRIDES...: SyntheticData.generate() or .prepare() (cached when done)
import json, sys, time
from hydra.utils import instantiate
from recsys.utils.compose import compose_config
stage, overrides = sys.argv[1], sys.argv[2:]
data = instantiate(compose_config("train", overrides).data, _convert_="all")
t = time.perf_counter()
result = data.generate() if stage == "generate" else data.prepare()
print(json.dumps({"stage": stage, "seconds": round(time.perf_counter() - t, 1), "result": str(result)}))
EOF
cat > "$PY/bench_training_mode.py" <<'EOF'
# bench_training_mode.py MODE ARGS...: recsys-bench-training --compile with torch.compile(mode=MODE) for
# both loops (ours through TwoTowerModule's compile_mode), until the command has a --compile-mode flag.
import functools, sys, torch
from recsys.benchmarks import training
from recsys.lit.two_tower_module import TwoTowerModule
mode = sys.argv[1]
torch.compile = functools.partial(torch.compile, mode=mode)  # the plain loop's torch.compile(forward_loss)
training.TwoTowerModule = functools.partial(TwoTowerModule, compile_mode=mode)  # ours
print(f"torch.compile mode={mode} for ours and the plain loop", file=sys.stderr)
raise SystemExit(training.main(sys.argv[2:]))
EOF

# --- setup: wheels for what the machine lacks, the GPU, versions, which optional packages import
if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then
  log "installing .whl/*.whl into /tmp/site"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    > "$OUT/pip.log" 2>&1 || { log "pip install failed (see pip.log)"; tail -5 "$OUT/pip.log"; }
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; uptime; free -g | head -2; } 2>&1 | tee "$OUT/machine.txt"
step setup 10 120 python3 "$PY/imports.py"
[ -f "$OUT/setup.log" ] && grep -E "^torch|^device|MISSING" "$OUT/setup.log"

# --- (c) full-ranking evaluation, 162,541 x 59,047, d=128, top-20, training items masked:
# ours (exact, tie rule) vs a plain matmul + topk loop, same run; float32 matmul (no TF32)
step eval 30 120 python3 -m recsys.benchmarks.evaluation "${EVAL_SIZE[@]}" --device "$DEVICE" --backends torch \
  --chunk-size "${CHUNKS[@]}" --repeat "$REPEAT" --matmul-precision highest --output "$OUT/bench_eval.json"

# --- 25M synthetic ratings (ML-25M shape): generate, then process (DuckDB), each timed
step generate 20 240 python3 "$PY/data_stage.py" generate "${DATA[@]}"
step process 20 240 python3 "$PY/data_stage.py" process "${DATA[@]}"

# --- (a) in-batch softmax, batch 16,384, bf16: ours (Lightning) vs the plain loop on the same batches;
# eager, torch.compile, and CUDA graphs (torch.compile mode="reduce-overhead"; TwoTowerModule's compile_mode)
TRAIN=(python3 -m recsys.benchmarks.training "${BENCH[@]}")
if grep -q -- '"--compile-mode"' recsys/benchmarks/training.py; then
  GRAPHS=(env TORCH_LOGS=perf_hints "${TRAIN[@]}" --compile --compile-mode reduce-overhead)
else  # the command has no --compile-mode flag (yet): a wrapper sets the mode
  GRAPHS=(env TORCH_LOGS=perf_hints python3 "$PY/bench_training_mode.py" reduce-overhead "${BENCH[@]}" --compile)
fi
SOFTMAX=(--loss softmax --batch-size "$BS" --steps "$N_STEPS")
NO_TUT=1; grep -q 'tutorial_steps > 0' recsys/benchmarks/training.py && NO_TUT=0  # 0 skips the per-row feed where supported
step train_eager 30 150 "${TRAIN[@]}" "${SOFTMAX[@]}" --tutorial-steps "$TUT" --output "$OUT/bench_train_eager.json"
step train_compile 60 240 "${TRAIN[@]}" "${SOFTMAX[@]}" --tutorial-steps "$NO_TUT" --compile --output "$OUT/bench_train_compile.json"
step train_cudagraphs 60 240 "${GRAPHS[@]}" "${SOFTMAX[@]}" --tutorial-steps "$NO_TUT" --output "$OUT/bench_train_cudagraphs.json"

# --- (b) full softmax over the 59,047 items at batch 4,096 (target: >= 655K samples/s for ours)
FULL=(--loss full_softmax --batch-size "$FULL_BS" --steps "$N_STEPS" --tutorial-steps "$NO_TUT")
step full_softmax 30 150 "${TRAIN[@]}" "${FULL[@]}" --output "$OUT/bench_full_softmax.json"

# --- (d) end to end on the 25M set: train 1 epoch (ml25m config: batch 16,384, bf16, id+features towers,
# validation and test on the best checkpoint, exported embeddings), evaluate, package + Edge index
want e2e_train && rm -rf "$RUN" "$WORK/eval"  # a fresh run directory
step e2e_train 60 300 python3 train.py experiment=ml25m_two_tower "${DATA[@]}" "${TRAINER[@]}" "${E2E[@]}" \
  trainer.max_epochs=1 logger=csv trainer.enable_progress_bar=false "hydra.run.dir=$RUN"
want e2e_train && [ -f "$RUN/metrics.json" ] && cp "$RUN/metrics.json" "$OUT/e2e_metrics.json"
step e2e_eval 30 240 python3 eval.py "run=$RUN" "output_dir=$WORK/eval" "accelerator=$EVAL_ACC"
want e2e_eval && [ -f "$WORK/eval/eval_metrics.json" ] && cp "$WORK/eval/eval_metrics.json" "$OUT/e2e_eval_metrics.json"
step e2e_package 30 240 python3 -m recsys.serving.package "run_dir=$RUN"

# --- lower value, if time is left: what the in-batch duplicate mask costs (eager and compiled),
# TF32 evaluation (more rows re-ranked exactly), compiled full softmax
step softmax_mask 40 150 python3 -m recsys.benchmarks.softmax_mask --device "$DEVICE" --batch-size "$BS" \
  --steps "$MASK_STEPS" --compile --output "$OUT/bench_softmax_mask.json"
step eval_tf32 30 120 python3 -m recsys.benchmarks.evaluation "${EVAL_SIZE[@]}" --device "$DEVICE" --backends torch \
  --chunk-size "${CHUNKS[@]}" --repeat "$REPEAT" --matmul-precision high --output "$OUT/bench_eval_tf32.json"
step full_softmax_compile 60 240 "${TRAIN[@]}" "${FULL[@]}" --compile --output "$OUT/bench_full_softmax_compile.json"

# --- summary: every step's status, time and peak RSS, and the numbers the issue's targets are about
python3 - "$OUT" <<'EOF' | tee "$OUT/summary.md"
import csv, json, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| step | status | seconds | peak RSS (MB) |\n|---|---|---:|---:|")
for row in csv.DictReader((out / "summary.tsv").open(), delimiter="\t"):
    print(f"| {row['step']} | {row['status']} | {row['seconds']} | {row['peak_rss_mb']} |")
for name in ["train_eager", "train_compile", "train_cudagraphs", "full_softmax", "full_softmax_compile"]:
    path = out / f"bench_{name}.json"
    if path.exists():
        r = json.loads(path.read_text())
        s = r["samples_per_s"]
        print(f"- {name}: ours {s['ours_lightning']:,} samples/s, plain {s['plain_pytorch_loop']:,}, ours/plain {r['ours_vs_plain']}")
for name in ["bench_eval", "bench_eval_tf32"]:
    path = out / f"{name}.json"
    if path.exists():
        for r in json.loads(path.read_text()):
            if r.get("pipeline") == "plain":
                print(f"- {name} ({r['matmul_precision']}) chunk {r['chunk_size']}: plain {r['seconds']} s, ours/plain {r['ours_over_plain']}, same sets {r['same_topk_sets']}")
            elif r.get("pipeline") == "ours":
                print(f"- {name} ({r['matmul_precision']}) chunk {r['chunk_size']}: ours {r['seconds']} s, whole-catalogue rows {r.get('whole_catalog_rows')}")
            else:
                print(f"- {name}: {r}")
path = out / "bench_softmax_mask.json"
if path.exists():
    r = json.loads(path.read_text())
    print(f"- softmax_mask (batch {r['batch_size']}): ms/step {r['ms_per_step']}, mask share eager {r['mask_share_eager']}, compiled {r.get('mask_share_compiled')}")
for name in ["e2e_metrics", "e2e_eval_metrics"]:
    path = out / f"{name}.json"
    if path.exists():
        m = json.loads(path.read_text())
        print(f"- {name}: val ndcg@10 {m.get('val', {}).get('ndcg@10')}, test ndcg@10 {m.get('test', {}).get('ndcg@10')}")
EOF
log "done"
