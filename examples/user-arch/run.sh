#!/usr/bin/env bash
# A user's own network in hotbench: a small ResNet for MNIST (my_nets/resnet.py, plain PyTorch) trained by
# hotbench under its tanh(z / T) head, the same network trained by the user's own loop and imported,
# both attacked with the paper's and the adaptive attacks, and reported side by side.
#
#   cd examples/user-arch && ./run.sh ../../../shared/data       # MNIST in torchvision's layout
#
# Sizes (env): EPOCHS (default 2), N_TRAIN (training images, default all), N_SAMPLES (test images
# attacked, default 500), WS (workspace, default ./hotbench-runs), HOTBENCH (the command, default hotbench).
set -euo pipefail
cd "$(dirname "$0")"                      # my_nets must be importable: hotbench imports from the current directory
DATA_DIR=${1:-${HOTBENCH_DATA:-../../../shared/data}}
HOTBENCH=${HOTBENCH:-hotbench}
WS=${WS:-./hotbench-runs}
EPOCHS=${EPOCHS:-2}
N_SAMPLES=${N_SAMPLES:-500}
ntrain=(); [ -n "${N_TRAIN:-}" ] && ntrain=(--n-train "$N_TRAIN")
common=(--workspace "$WS" --data-dir "$DATA_DIR" --quiet)

# 1. hotbench trains the user's network: undefended, and with PGD-AT at eps 0.1 (one row each)
$HOTBENCH train --dataset mnist --arch my_nets.resnet:build --act tanh --temp 1 --temp 50 \
    --epochs "$EPOCHS" "${ntrain[@]}" "${common[@]}"
$HOTBENCH train --dataset mnist --arch my_nets.resnet:build --act none --defense pgd-at --train-eps 0.1 \
    --train-steps 5 --epochs "$EPOCHS" "${ntrain[@]}" "${common[@]}"

# 2. the same network trained elsewhere (the user's own loop), imported: safetensors, no code runs on load
${PYTHON:-python} train_elsewhere.py "$WS/elsewhere.safetensors" "$DATA_DIR" "${N_TRAIN:-60000}"
$HOTBENCH import-weights "$WS/elsewhere.safetensors" --dataset mnist --arch my_nets.resnet:build \
    --act none --temp 1 "${common[@]}"

# 3. attack every model deployed at T = 1: the paper's PGD on the output, and PGD on the logits,
#    transfer and Square, which do not trust a saturated output
$HOTBENCH attack --method fgsm --method pgd --method transfer --eps 0.1 --eval-temp 1 \
    --n-samples "$N_SAMPLES" --steps 10 "${common[@]}"
$HOTBENCH attack --method pgd --on logits --eps 0.1 --eval-temp 1 --n-samples "$N_SAMPLES" --steps 10 \
    "${common[@]}"
$HOTBENCH attack --method square --param n_queries=200 --eps 0.1 --eval-temp 1 --n-samples "$N_SAMPLES" \
    "${common[@]}"

# 4. the report: one row per model, with its defense, worst case and verdict
$HOTBENCH report --workspace "$WS"
