#!/usr/bin/env bash
# GPU recipe: full-width VGG10 on one GPU (about 8 minutes on an H200). The data set and
# the augmentation live on the GPU (fer train always keeps them on the training device),
# batches are larger and the schedule longer than the CPU recipe.
#
#   bash scripts/train_gpu.sh fer2013.tar.gz [extra fer train options, which win]
#
# Smoke test on a CPU: bash scripts/train_gpu.sh fer2013.tar.gz --device cpu --epochs 1 --subset 512
set -euo pipefail
data=${1:?usage: train_gpu.sh FER2013_PATH [fer train options]}
shift
exec fer train --data "$data" --model vgg10 --width-mult 1.0 --epochs 100 --batch-size 256 --lr 0.1 \
    --device cuda --out runs/vgg10-gpu "$@"
