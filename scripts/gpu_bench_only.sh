#!/usr/bin/env bash
# Re-run only the 25M training-throughput part of gpu_check.sh (after a change to the hot path):
# in-batch softmax at batch 16,384 (eager, torch.compile, CUDA graphs) and full softmax at 4,096.
GPU_CHECK_STEPS="${GPU_CHECK_STEPS:-setup,generate,process,train_eager,train_compile,train_cudagraphs,full_softmax}" \
  exec bash "$(dirname "$0")/gpu_check.sh"
