#!/usr/bin/env python3
"""distil against its peers (OpenVINO, ONNX Runtime, CTranslate2, PyTorch) on this machine, in one run.

    .venv-ref/bin/python benches/peers.py [--threads 2] [--runs 20] [--dtypes f32,bf16,int8] [--scaling] [--json FILE]

Builds (once) a random-weight checkpoint shaped exactly like distilbert-base-cased in
weights/distilbert-base-random/ (safetensors, vocab.txt, tokenizer_config.json, model.onnx,
encoder.onnx), builds the release binary, then times every engine (distil in each of its dtypes,
OpenVINO fp32, bf16 and int8 (NNCF), ONNX Runtime fp32 and int8 (dynamic quantization), CTranslate2,
PyTorch) on the same shapes, interleaved, and prints markdown tables: median ms, the ratios issues 13
and 14's targets are about, achieved GFLOP/s and GB/s, and the machine's own measured FP32, bf16 and
int8 peaks and DRAM bandwidth. See benches/README.md.

Nothing here touches the Hugging Face hub.
"""

import os

# Before transformers is imported: never reach for the hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = ROOT / "weights" / "distilbert-base-random"
FIXTURE_VOCAB = ROOT / "tests" / "fixtures" / "models" / "distilbert-cased" / "vocab.txt"
MEASURE_MACHINE = ROOT.parent / "shared" / "tools" / "measure-machine.sh"

VOCAB_SIZE = 28996  # distilbert-base-cased
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)

MAIN_SHAPES = [(1, 12), (1, 128), (8, 128), (1, 512)]
SCALING_SEQ = 128
SCALING_BATCHES = [1, 2, 4, 8, 16, 32]  # at SCALING_SEQ, encoders only

# Issue 13's targets, as upper bounds on distil / peer (median over median, same run). "Fastest fp32
# peer" is whichever of OpenVINO, ONNX Runtime, CTranslate2 (encoder) or PyTorch (full) was fastest.
ENCODER_VS_FASTEST_TARGETS = {shape: 0.9 for shape in MAIN_SHAPES}  # fp32 encoder / fastest fp32 peer encoder
FILL_MASK_VS_FASTEST_TARGETS = {(1, 12): 0.8, (1, 128): 0.6, (8, 128): 0.7, (1, 512): 0.7}  # fp32 fill-mask / fastest fp32 peer full
BATCH_SCALING_TARGET = 1.05  # distil fp32 encoder, ms per sequence at 32×SCALING_SEQ / at 4×SCALING_SEQ
BATCH_SCALING_FROM, BATCH_SCALING_TO = 4, 32
ENCODER_VS_OPENVINO_AT_32_TARGET = 0.9  # distil fp32 encoder / OpenVINO fp32 encoder at 32×SCALING_SEQ
BF16_ENCODER_VS_OPENVINO_TARGET = 0.9  # distil bf16 encoder / OpenVINO bf16 encoder, at every shape
# Issue 14's: distil's int8 against the peers' int8 (OpenVINO after NNCF, ONNX Runtime after quantize_dynamic).
INT8_ENCODER_VS_OPENVINO_TARGET = 0.9  # distil int8 encoder / OpenVINO int8 encoder, at every shape
INT8_FILL_MASK_VS_FASTEST_TARGET = 0.8  # distil int8 fill-mask / fastest int8 peer full, at every shape

# The dtypes `distil bench --dtype` is timed in; one that the binary refuses is skipped (and said so).
# They are also the precisions --dtypes chooses among, for distil and the peers alike.
DISTIL_DTYPES = ["f32", "bf16", "int8"]
DISTIL_MODES = {  # our name -> extra `distil bench` flags, what it computes
    "fill-mask": ([], "fill-mask"),
    "full-logits": (["--full-logits"], "full"),
    "encoder-only": (["--encoder-only"], "encoder"),
}

# The peers' columns, in order: key -> (heading, short name, precision, output). Output "full" is the
# MLM logits at every position, "encoder" the last hidden state; distil's "fill-mask" computes the head
# at the [MASK] only.
PEER_ENGINES = {
    "ov_fp32_full": ("OpenVINO fp32 full", "OpenVINO", "f32", "full"),
    "ov_fp32_encoder": ("OpenVINO fp32 encoder", "OpenVINO", "f32", "encoder"),
    "ort_full": ("ORT fp32 full", "ORT", "f32", "full"),
    "ort_encoder": ("ORT fp32 encoder", "ORT", "f32", "encoder"),
    "ct2_encoder": ("CTranslate2 fp32 encoder", "CTranslate2", "f32", "encoder"),
    "torch_full": ("PyTorch fp32 full", "PyTorch", "f32", "full"),
    "ov_bf16_full": ("OpenVINO bf16 full", "OpenVINO bf16", "bf16", "full"),
    "ov_bf16_encoder": ("OpenVINO bf16 encoder", "OpenVINO bf16", "bf16", "encoder"),
    "ov_int8_full": ("OpenVINO int8 full", "OpenVINO int8", "int8", "full"),
    "ov_int8_encoder": ("OpenVINO int8 encoder", "OpenVINO int8", "int8", "encoder"),
    "ort_int8_full": ("ORT int8 full", "ORT int8", "int8", "full"),
    "ort_int8_encoder": ("ORT int8 encoder", "ORT int8", "int8", "encoder"),
}


def dtype_label(dtype):
    """`fp32` for distil's `f32`, so that distil's columns read like the peers'."""
    return "fp32" if dtype == "f32" else dtype


def distil_key(dtype, mode):
    """`distil_fill_mask` for f32 (the keys of earlier reports), `distil_bf16_fill_mask` for bf16,
    `distil_int8_fill_mask` for int8."""
    return "distil_" + ("" if dtype == "f32" else f"{dtype}_") + mode.replace("-", "_")


# Every column: key -> {heading, short, precision, output, and for distil its dtype and mode}.
ENGINES = {
    **{distil_key(d, m): {"heading": f"distil {dtype_label(d)} {m}", "short": f"distil {dtype_label(d)}", "precision": d, "output": out,
                          "distil": (d, m)}
       for d in DISTIL_DTYPES for m, (_, out) in DISTIL_MODES.items()},
    **{k: {"heading": h, "short": s, "precision": p, "output": o, "distil": None} for k, (h, s, p, o) in PEER_ENGINES.items()},
}


def peers_of(precision, output):
    """The peers' keys of one precision and output: what "the fastest ... peer" is chosen among."""
    return [k for k, e in ENGINES.items() if not e["distil"] and e["precision"] == precision and e["output"] == output]


FP32_PEER_ENCODERS, FP32_PEER_FULL = peers_of("f32", "encoder"), peers_of("f32", "full")
INT8_PEER_ENCODERS, INT8_PEER_FULL = peers_of("int8", "encoder"), peers_of("int8", "full")


def log(*parts):
    """Progress on stderr, so that stdout holds only the report."""
    print(*parts, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Cost model (the same formula as distil's Model::flops)


def flops(batch, seq, head_rows, dim=768, hidden=3072, layers=6, vocab=VOCAB_SIZE):
    """FLOPs of one forward pass: the six layers' linears (~85 MFLOP/token), attention
    (4·s²·dim per layer and sequence) and the MLM head at `head_rows` positions."""
    tokens = batch * seq
    linear = 2.0 * tokens * (4 * dim * dim + 2 * dim * hidden)
    attention = batch * 4.0 * seq * seq * dim
    head = 2.0 * head_rows * (dim * dim + dim * vocab)
    return layers * (linear + attention) + head


def head_rows_for(key, batch, seq):
    """Positions the MLM head is computed at: none (encoder), one per sequence (fill-mask), all (full)."""
    output = ENGINES[key]["output"]
    if output == "encoder":
        return 0
    if output == "fill-mask":
        return batch  # one [MASK] per sequence
    return batch * seq


# --------------------------------------------------------------------------------------------
# The machine


def read_cpuinfo():
    info = {"model_name": platform.processor() or "unknown", "flags": set()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    first = text.split("\n\n", 1)[0]
    for line in first.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name":
            info["model_name"] = value
        elif key == "cpu family":
            info["family"] = value
        elif key == "model":
            info["model"] = value
        elif key == "flags":
            info["flags"] = set(value.split())
    return info


def cache_sizes():
    """L2 and L3 as lscpu reports them (or None)."""
    out = {}
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return out
    for line in text.splitlines():
        m = re.match(r"\s*(L2|L3) cache:\s*(.+)", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


# Peak and bandwidth are ceilings: on a shared machine, the best of a few measurements is the
# closest to them.
REPEATS = 3


# measure-machine.sh's line prefixes -> our names. A bare `threads=T GFLOP/s=X` line (the AVX2
# fallback below, older versions of the script) is an FP32 peak.
PEAK_KINDS = {"fp32": "peak_gflops", "bf16": "bf16_peak_gflops", "int8": "int8_peak_gops"}
MEASUREMENTS = [*PEAK_KINDS.values(), "dram_read_gbs"]


def parse_measurements(text):
    """measure-machine.sh's lines (the best of any repeats) -> {name: {threads: value}} for every name in
    MEASUREMENTS: `fp32 avx512 threads=T GFLOP/s=X`, `bf16 dot threads=T GFLOP/s=X`, `int8 vnni
    threads=T GOPS=X` and `threads=T read GB/s=Y`."""
    out = {name: {} for name in MEASUREMENTS}

    def keep(name, t, value):
        out[name][t] = max(out[name].get(t, 0.0), value)

    for line in text.splitlines():
        m = re.search(r"(?:^|\s)threads=(\d+) (?:GFLOP/s|GOPS)=([\d.]+)", line)
        if m:
            prefix = line[: m.start()].split()
            name = PEAK_KINDS.get(prefix[0] if prefix else "fp32")
            if name:
                keep(name, int(m.group(1)), float(m.group(2)))
        m = re.search(r"threads=(\d+) read GB/s=([\d.]+)", line)
        if m:
            keep("dram_read_gbs", int(m.group(1)), float(m.group(2)))
    return out


# Used only when measure-machine.sh cannot run here (it is built for AVX-512): the same two
# measurements with 256-bit AVX2 + FMA, which every machine distil targets has.
AVX2_PEAK_C = r"""
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define STEPS 100000000L
static double seconds(void) {
  struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9;
}
#define FMA12(x, y) \
  a0 = _mm256_fmadd_ps(a0, x, y); a1 = _mm256_fmadd_ps(a1, x, y); a2 = _mm256_fmadd_ps(a2, x, y); \
  a3 = _mm256_fmadd_ps(a3, x, y); a4 = _mm256_fmadd_ps(a4, x, y); a5 = _mm256_fmadd_ps(a5, x, y); \
  a6 = _mm256_fmadd_ps(a6, x, y); a7 = _mm256_fmadd_ps(a7, x, y); a8 = _mm256_fmadd_ps(a8, x, y); \
  a9 = _mm256_fmadd_ps(a9, x, y); a10 = _mm256_fmadd_ps(a10, x, y); a11 = _mm256_fmadd_ps(a11, x, y);
static void *chains(void *out) {
  const __m256 x = _mm256_set1_ps(0.9999999f), y = _mm256_set1_ps(1e-7f);
  __m256 a0 = _mm256_set1_ps(0.f), a1 = _mm256_set1_ps(1.f), a2 = _mm256_set1_ps(2.f), a3 = _mm256_set1_ps(3.f);
  __m256 a4 = _mm256_set1_ps(4.f), a5 = _mm256_set1_ps(5.f), a6 = _mm256_set1_ps(6.f), a7 = _mm256_set1_ps(7.f);
  __m256 a8 = _mm256_set1_ps(8.f), a9 = _mm256_set1_ps(9.f), a10 = _mm256_set1_ps(10.f), a11 = _mm256_set1_ps(11.f);
  for (long i = 0; i < STEPS; i++) {
    FMA12(x, y)
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5),
                     "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
  }
  __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  sum = _mm256_add_ps(sum, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float lanes[8]; _mm256_storeu_ps(lanes, sum); *(float *)out = lanes[0];
  return NULL;
}
int main(int argc, char **argv) {
  int n = atoi(argv[1]); pthread_t tid[64]; float sink[64];
  double start = seconds();
  for (int t = 0; t < n; t++) pthread_create(&tid[t], NULL, chains, &sink[t]);
  for (int t = 0; t < n; t++) pthread_join(tid[t], NULL);
  double elapsed = seconds() - start;
  printf("threads=%d GFLOP/s=%.1f (%.3fs)\n", n, n * (double)STEPS * 12 * 8 * 2 / elapsed / 1e9, elapsed);
  return 0;
}
"""

AVX2_READ_C = r"""
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define BYTES (512L << 20)
#define PASSES 3
static float *data; static int nthreads;
static double seconds(void) {
  struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static void *reader(void *arg) {
  long part = (long)arg, len = BYTES / 4 / nthreads; const float *p = data + part * len;
  __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps(), c = _mm256_setzero_ps(), d = _mm256_setzero_ps();
  for (int pass = 0; pass < PASSES; pass++)
    for (long i = 0; i < len; i += 32) {
      a = _mm256_add_ps(a, _mm256_load_ps(p + i));      b = _mm256_add_ps(b, _mm256_load_ps(p + i + 8));
      c = _mm256_add_ps(c, _mm256_load_ps(p + i + 16)); d = _mm256_add_ps(d, _mm256_load_ps(p + i + 24));
      __asm__ volatile("" : "+x"(a), "+x"(b), "+x"(c), "+x"(d));
    }
  static float sink[64]; float lanes[8];
  _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
  sink[part] = lanes[0];
  return NULL;
}
int main(int argc, char **argv) {
  nthreads = atoi(argv[1]); data = aligned_alloc(64, BYTES); pthread_t tid[64];
  for (long i = 0; i < BYTES / 4; i++) data[i] = (float)i * 1e-9f;
  double start = seconds();
  for (long t = 0; t < nthreads; t++) pthread_create(&tid[t], NULL, reader, (void *)t);
  for (int t = 0; t < nthreads; t++) pthread_join(tid[t], NULL);
  double elapsed = seconds() - start;
  printf("threads=%d read GB/s=%.1f\n", nthreads, PASSES * (double)BYTES / elapsed / 1e9);
  return 0;
}
"""


def measure_machine_avx2(threads):
    """The fallback measurement; returns (parsed, raw text) or raises."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, source in (("peak", AVX2_PEAK_C), ("bw", AVX2_READ_C)):
            (tmp / f"{name}.c").write_text(source)
            subprocess.run(
                ["gcc", "-O2", "-mavx2", "-mfma", "-o", str(tmp / name), str(tmp / f"{name}.c"), "-lpthread"],
                check=True, capture_output=True, text=True,
            )
        counts = sorted({1, threads})
        lines = []
        for _ in range(REPEATS):
            for name in ("peak", "bw"):
                for t in counts:
                    r = subprocess.run([str(tmp / name), str(t)], check=True, capture_output=True, text=True, timeout=120)
                    lines.append(r.stdout.strip())
    raw = "\n".join(lines)
    return parse_measurements(raw), raw


def measure_machine(threads):
    """Runs ../shared/tools/measure-machine.sh (REPEATS times, keeping the best of each figure): the FP32
    FMA peak, the bf16 and int8 dot-product peaks where the CPU has them, and the DRAM read bandwidth.
    Whatever of the FP32 peak and the bandwidth it does not give (it died, or the CPU lacks AVX-512 and
    it skips the bandwidth), peers.py measures with its own AVX2 + FMA programs."""
    result = {"error": None, "raw": "", "sources": {}, **{name: {} for name in MEASUREMENTS}}
    if MEASURE_MACHINE.exists():
        log(f"measuring the machine: bash {MEASURE_MACHINE}")
        try:
            outputs = []
            for _ in range(REPEATS):
                r = subprocess.run(["bash", str(MEASURE_MACHINE)], capture_output=True, text=True, timeout=300)
                if r.returncode != 0:
                    last = " ".join((r.stderr.strip().splitlines() or ["no output"])[-1].split())
                    result["error"] = f"measure-machine.sh exited with {r.returncode}: {last}"
                    break
                outputs.append(r.stdout)
            result["raw"] = ("".join(outputs) + r.stderr).strip()
            for name, values in parse_measurements("".join(outputs)).items():
                if values:
                    result[name] = values
                    result["sources"][name] = f"measure-machine.sh, best of {len(outputs)}"
        except (OSError, subprocess.SubprocessError) as e:
            result["error"] = f"measure-machine.sh could not run: {e}"
    else:
        result["error"] = f"{MEASURE_MACHINE} not found"
    missing = [name for name in ("peak_gflops", "dram_read_gbs") if not result[name]]
    if not missing:
        return result
    why = result["error"] or "measure-machine.sh did not give them"
    log(f"warning: {why}; measuring {' and '.join(missing)} with AVX2 + FMA instead")
    try:
        parsed, raw = measure_machine_avx2(threads)
        for name in missing:
            result[name] = parsed[name]
            result["sources"][name] = f"AVX2+FMA fallback in peers.py, best of {REPEATS}"
        result["raw_fallback"] = raw
    except (OSError, subprocess.SubprocessError) as e:
        log(f"warning: the AVX2 fallback failed too: {e}")
    return result


# --------------------------------------------------------------------------------------------
# The model directory


def write_vocab(path):
    """28,996 lines: the cased fixture vocabulary (specials at ids 0-4) padded with [unused{i}]."""
    tokens = []
    if FIXTURE_VOCAB.exists():
        tokens = FIXTURE_VOCAB.read_text(encoding="utf-8").splitlines()
    if tokens[:5] != SPECIALS:
        # A synthetic cased vocabulary: the specials, printable ASCII, and their ## forms.
        chars = [chr(c) for c in range(33, 127)]
        tokens = SPECIALS + chars + ["##" + c for c in chars]
    tokens = tokens[:VOCAB_SIZE]
    seen = set(tokens)
    i = 0
    while len(tokens) < VOCAB_SIZE:
        filler = f"[unused{i}]"
        if filler not in seen:
            tokens.append(filler)
        i += 1
    assert len(tokens) == VOCAB_SIZE and len(set(tokens)) == VOCAB_SIZE
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")


def write_tokenizer_files(model_dir):
    specials = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
    config = {
        "tokenizer_class": "DistilBertTokenizer",
        "do_lower_case": False,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "model_max_length": 512,
        "clean_up_tokenization_spaces": False,
        **specials,
    }
    (model_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n")
    (model_dir / "special_tokens_map.json").write_text(json.dumps(specials, indent=1) + "\n")


def export_onnx(module, args, path, output_name):
    """torch.onnx.export with dynamic batch and sequence axes: the dynamo exporter, else the legacy
    TorchScript one. Returns a description of what was used."""
    import torch

    names = ["input_ids", "attention_mask"]
    try:
        batch = torch.export.Dim("batch", min=1, max=4096)
        seq = torch.export.Dim("seq", min=2, max=512)
        torch.onnx.export(
            module, args, str(path), input_names=names, output_names=[output_name],
            dynamic_shapes={n: {0: batch, 1: seq} for n in names},
            opset_version=18, dynamo=True, external_data=False,
        )
        return "dynamo exporter, opset 18"
    except Exception as e:  # noqa: BLE001 - any exporter failure: try the other one
        log(f"warning: the dynamo exporter failed ({type(e).__name__}: {str(e)[:300]}); trying the legacy exporter")
    axes = {n: {0: "batch", 1: "seq"} for n in names + [output_name]}
    torch.onnx.export(
        module, args, str(path), input_names=names, output_names=[output_name],
        dynamic_axes=axes, opset_version=17, dynamo=False,
    )
    return "legacy TorchScript exporter, opset 17"


def build_model_dir(model_dir, seed):
    """A seeded random DistilBertForMaskedLM of distilbert-base-cased's shapes, its vocabulary and
    tokenizer files, then its ONNX exports."""
    import torch
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    model_dir.mkdir(parents=True, exist_ok=True)
    log(f"building {model_dir} (seed {seed})")
    torch.manual_seed(seed)
    config = DistilBertConfig(vocab_size=VOCAB_SIZE)
    shape = (config.dim, config.n_layers, config.n_heads, config.hidden_dim, config.max_position_embeddings)
    assert shape == (768, 6, 12, 3072, 512), f"DistilBertConfig defaults changed: {shape}"
    model = DistilBertForMaskedLM(config).eval()
    model.save_pretrained(model_dir, safe_serialization=True)
    write_vocab(model_dir / "vocab.txt")
    write_tokenizer_files(model_dir)
    export_model_dir(model_dir, model, seed, "built by benches/peers.py: DistilBertForMaskedLM(config) after torch.manual_seed(seed)")


def export_model_dir(model_dir, model, seed, checkpoint):
    """model.onnx and encoder.onnx from `model` (a DistilBertForMaskedLM), and peers-build.json,
    which records the seed and where the checkpoint came from."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB_SIZE, (2, 16), generator=gen)
    mask = torch.ones_like(ids)
    exporters = {}
    # torch.onnx prints its progress on stdout, which holds only the report.
    with torch.no_grad(), contextlib.redirect_stdout(sys.stderr):
        t0 = time.perf_counter()
        log("exporting model.onnx (DistilBertForMaskedLM, logits)")
        exporters["model.onnx"] = export_onnx(model, (ids, mask), model_dir / "model.onnx", "logits")
        log(f"  {exporters['model.onnx']}, {time.perf_counter() - t0:.0f} s")
        t0 = time.perf_counter()
        log("exporting encoder.onnx (DistilBertModel, last_hidden_state)")
        exporters["encoder.onnx"] = export_onnx(model.distilbert, (ids, mask), model_dir / "encoder.onnx", "last_hidden_state")
        log(f"  {exporters['encoder.onnx']}, {time.perf_counter() - t0:.0f} s")
    manifest = {
        "seed": seed,
        "checkpoint": checkpoint,
        "config": "DistilBertConfig(vocab_size=28996)",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "onnx_exporters": exporters,
        "built_by": "benches/peers.py",
    }
    (model_dir / "peers-build.json").write_text(json.dumps(manifest, indent=1) + "\n")


MODEL_FILES = ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "model.onnx", "encoder.onnx", "peers-build.json"]
CT2_DIR = "ctranslate2-float32"  # the CTranslate2 conversion, made on first use
# The int8 peers' models, quantized from model.onnx / encoder.onnx on first use (quantizing takes a
# minute or so) and kept beside them: source -> (OpenVINO IR after NNCF, ONNX after quantize_dynamic).
INT8_FILES = {
    "model.onnx": ("model-int8-nncf.xml", "model-int8-dynamic.onnx"),
    "encoder.onnx": ("encoder-int8-nncf.xml", "encoder-int8-dynamic.onnx"),
}


def ensure_model_dir(model_dir, seed, rebuild):
    """The checkpoint and its ONNX exports, built when missing, when built with another seed, when
    not built by peers.py (no peers-build.json: its weights are unknown), or with `rebuild`; returns
    peers-build.json's contents.

    The new files are built in a sibling staging folder and then moved in one by one, so that another
    program reading the folder meanwhile never finds it half-empty."""
    if not rebuild:
        missing = [f for f in MODEL_FILES if not (model_dir / f).exists()]
        if not missing:
            built = json.loads((model_dir / "peers-build.json").read_text())
            if built.get("seed") == seed:
                return built
            log(f"{model_dir} was built with seed {built.get('seed')}, not {seed}: rebuilding")
        else:
            log(f"{model_dir}: missing {', '.join(missing)}: (re)building it")
    staging = model_dir.parent / f".{model_dir.name}.building"
    shutil.rmtree(staging, ignore_errors=True)
    build_model_dir(staging, seed)
    model_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(model_dir / CT2_DIR, ignore_errors=True)  # converted from the old checkpoint
    for ir, onnx_file in INT8_FILES.values():  # quantized from the old checkpoint
        for f in [ir, Path(ir).with_suffix(".bin").name, onnx_file]:
            (model_dir / f).unlink(missing_ok=True)
    for f in ["special_tokens_map.json", "generation_config.json", "model.onnx.data", "encoder.onnx.data"]:
        (model_dir / f).unlink(missing_ok=True)
    for f in sorted(staging.iterdir()):
        os.replace(f, model_dir / f.name)
    staging.rmdir()
    return json.loads((model_dir / "peers-build.json").read_text())


def weight_bytes(model):
    """Bytes of fp32 weights read per forward pass: the six layers, and the MLM head (vocab
    transform, its LayerNorm, the projector = the word-embedding table, and its bias)."""
    layers = sum(p.numel() * p.element_size() for n, p in model.named_parameters() if ".transformer.layer." in n)
    head = sum(p.numel() * p.element_size() for n, p in model.named_parameters() if n.startswith(("vocab_transform", "vocab_layer_norm")))
    head += model.vocab_projector.bias.numel() * 4 + model.distilbert.embeddings.word_embeddings.weight.numel() * 4
    return {"encoder": layers, "head": head}


# --------------------------------------------------------------------------------------------
# The int8 peers' models

# NNCF's calibration set: this many random inputs (random_ids, seeds after the model's) at each of
# MAIN_SHAPES, whatever --shapes says, so that the cached IR does not depend on the run. Random ids
# give random activations, which is all a random-weight model has to calibrate on; the timings do not
# depend on the scales.
INT8_CALIBRATION_PER_SHAPE = 2


def staged(out):
    """A temporary name beside `out` (same suffix), unique to this process: a quantization that is
    interrupted, or one running in another peers.py at the same time, never leaves a half-written
    file under the name the next run would reuse."""
    return out.with_name(f".{out.stem}.{os.getpid()}.partial{out.suffix}")


def openvino_int8_ir(core, model_dir, source, seed):
    """`source` (model.onnx or encoder.onnx) quantized by NNCF's post-training quantization
    (nncf.quantize with model_type TRANSFORMER and the default preset, which for transformers is
    "mixed": symmetric int8 weights, asymmetric int8 activations; the transformer type also keeps the
    element-wise and normalization ops in f32 and applies SmoothQuant) into an OpenVINO IR beside it;
    made once, then reused. Returns (path, how it was got)."""
    out = model_dir / INT8_FILES[source][0]
    if out.exists() and out.with_suffix(".bin").exists():
        return out, "cached"
    # nncf's logger is bound to sys.stdout when nncf is imported, and its progress bars write there too:
    # stdout holds only the report.
    with contextlib.redirect_stdout(sys.stderr):
        import nncf
        import openvino as ov

        t0 = time.perf_counter()
        log(f"quantizing {source} with NNCF into {out} (once; it is reused by later runs)")
        calibration = [dict(zip(("input_ids", "attention_mask"), random_ids(b, s, seed + 1 + i)))
                       for b, s in MAIN_SHAPES for i in range(INT8_CALIBRATION_PER_SHAPE)]
        quantized = nncf.quantize(core.read_model(str(model_dir / source)), nncf.Dataset(calibration),
                                  model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration))
        # Not compressed to fp16 (save_model's default): what NNCF left in fp32 (the MLM projector, the
        # biases; the embedding tables it makes int8) stays exactly as in the ONNX file.
        tmp = staged(out)
        ov.save_model(quantized, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), out.with_suffix(".bin"))
        os.replace(tmp, out)
    seconds = time.perf_counter() - t0
    log(f"  {seconds:.0f} s")
    return out, f"made in {seconds:.0f} s"


def ort_int8_model(model_dir, source):
    """`source` after ONNX Runtime's dynamic quantization (quantize_dynamic: int8 weights per output
    channel, activations quantized to uint8 per tensor at run time) beside it; made once, then reused.
    Returns (path, how it was got).

    By default it also quantizes the embedding Gathers, and the word-embedding table is the MLM
    projector's weight too: model-int8-dynamic.onnx computes the projector in f32 from that table
    dequantized (DequantizeLinear, which ONNX Runtime does not constant-fold) on every pass, most of
    ORT int8 full's time. That is the model quantize_dynamic makes, so it is timed as it is."""
    out = model_dir / INT8_FILES[source][1]
    if out.exists():
        return out, "cached"
    from onnxruntime.quantization import QuantType, quantize_dynamic

    t0 = time.perf_counter()
    log(f"quantizing {source} with ONNX Runtime's quantize_dynamic into {out} (once; it is reused by later runs)")
    tmp = staged(out)
    quantize_dynamic(model_dir / source, tmp, per_channel=True, weight_type=QuantType.QInt8)
    os.replace(tmp, out)
    seconds = time.perf_counter() - t0
    log(f"  {seconds:.0f} s")
    return out, f"made in {seconds:.0f} s"


# --------------------------------------------------------------------------------------------
# Inputs and timing


def random_ids(batch, seq, seed):
    """[CLS] random ordinary ids, one [MASK] in the middle, [SEP]: like distil bench's own."""
    import numpy as np

    rng = np.random.default_rng(seed + 1000 * batch + seq)
    ids = rng.integers(len(SPECIALS), VOCAB_SIZE, size=(batch, seq), dtype=np.int64)
    ids[:, 0] = CLS_ID
    ids[:, seq // 2] = MASK_ID
    ids[:, -1] = SEP_ID
    return ids, np.ones_like(ids)


def summarize(times_ms):
    times = sorted(times_ms)
    return {
        "median_ms": statistics.median(times),
        "min_ms": times[0],
        "max_ms": times[-1],
        "runs": len(times),
        "times_ms": list(times_ms),
    }


def time_callable(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return summarize(times)


class Peers:
    """The peer engines, loaded once: PyTorch, ONNX Runtime (fp32 and int8), OpenVINO (fp32, bf16 where
    the CPU has AVX-512 BF16, and int8) and CTranslate2, those of the precisions in `dtypes` (PyTorch's
    model is loaded whatever they are: it is the reference of the checks). `runners` maps each engine
    that loaded to a function (ids, mask) -> a callable that runs one forward pass and returns its
    output; `notes` says why any is missing; `int8_models` which quantized file each int8 engine runs
    and whether this run made it."""

    def __init__(self, model_dir, threads, cpu_flags, ort_spin=True, dtypes=tuple(DISTIL_DTYPES), seed=0):
        import onnxruntime as ort
        import torch
        import transformers
        from transformers import DistilBertForMaskedLM

        transformers.logging.disable_progress_bar()

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # already fixed for this process
        self.torch = torch
        self.model = DistilBertForMaskedLM.from_pretrained(model_dir, local_files_only=True).eval()
        self.versions = {"torch": torch.__version__, "onnxruntime": ort.__version__, "transformers": transformers.__version__}
        self.torch_config = {"threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available()}
        self.notes = []
        self.runners = {"torch_full": self._torch_runner} if "f32" in dtypes else {}
        self.int8_models = {}

        def session(path):
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if not ort_spin:
                so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])

        outputs = {"model.onnx": ("full", "logits"), "encoder.onnx": ("encoder", "last_hidden_state")}
        if "f32" in dtypes:
            log("loading ONNX Runtime sessions")
            for file, (output, name) in outputs.items():
                self.runners[f"ort_{output}"] = ort_runner(session(model_dir / file), name)
        if "int8" in dtypes:
            try:
                for file, (output, name) in outputs.items():
                    path, how = ort_int8_model(model_dir, file)
                    log(f"loading {path.name} in ONNX Runtime (int8)")
                    self.runners[f"ort_int8_{output}"] = ort_runner(session(path), name)
                    self.int8_models[f"ort_int8_{output}"] = f"{path.name} ({how})"
            except Exception as e:  # noqa: BLE001 - quantization or loading failed: report it, time the others
                self.runners.pop("ort_int8_full", None)
                self.int8_models.pop("ort_int8_full", None)
                self.notes.append(f"ORT int8: skipped: {type(e).__name__}: {str(e)[:300]}")
        self._load_openvino(model_dir, threads, "avx512_bf16" in cpu_flags, dtypes, seed)
        if "f32" in dtypes:
            self._load_ctranslate2(model_dir, threads)

    def _torch_runner(self, ids, mask):
        t_ids, t_mask = self.torch.from_numpy(ids), self.torch.from_numpy(mask)

        def run():
            with self.torch.inference_mode():
                return self.model(input_ids=t_ids, attention_mask=t_mask).logits

        return run

    def _load_openvino(self, model_dir, threads, has_bf16, dtypes, seed):
        """OpenVINO's CPU plugin on the same ONNX files as ONNX Runtime (int8: on NNCF's quantization of
        them), compiled once per precision with the thread count, the precision hint and the latency
        hint."""
        try:
            import openvino as ov
        except ImportError as e:
            self.notes.append(f"OpenVINO: not installed ({e}); its rows are skipped")
            return
        self.versions["openvino"] = ov.__version__.split("-")[0]
        precisions = [p for p in ("f32", "bf16", "int8") if p in dtypes and (p != "bf16" or has_bf16)]
        if "bf16" in dtypes and not has_bf16:
            self.notes.append("OpenVINO bf16: skipped: this CPU has no avx512_bf16 (OpenVINO would compute in fp32)")
        core = ov.Core()
        self.openvino_config = {}
        for precision in precisions:
            # int8: what NNCF quantized runs in int8, the rest in f32, like distil's int8 (attention, the
            # MLM head in f32). Without the hint, a CPU with avx512_bf16 would run the rest in bf16: a
            # third precision in the row, and a different one from one machine to the next.
            hint = "f32" if precision == "int8" else precision
            config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
            name = "fp32" if precision == "f32" else precision
            try:
                for output, file in (("full", "model.onnx"), ("encoder", "encoder.onnx")):
                    path = model_dir / file
                    if precision == "int8":
                        path, how = openvino_int8_ir(core, model_dir, file, seed)
                        self.int8_models[f"ov_int8_{output}"] = f"{path.name} ({how})"
                        # Its version without importing it (see openvino_int8_ir on its stdout).
                        self.versions["nncf"] = importlib.metadata.version("nncf")
                    log(f"compiling {path.name} with OpenVINO ({name})")
                    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
                    self.runners[f"ov_{name}_{output}"] = openvino_runner(compiled)
                got = {k: compiled.get_property(k) for k in config}  # as compiled, e.g. whether bf16 took
                self.openvino_config[name] = {k: v.get_type_name() if isinstance(v, ov.Type) else str(v) for k, v in got.items()}
            except Exception as e:  # noqa: BLE001 - any OpenVINO failure: report it, time the others
                self.runners.pop(f"ov_{name}_full", None)
                self.int8_models.pop(f"ov_{name}_full", None)
                self.notes.append(f"OpenVINO {name}: skipped: {type(e).__name__}: {str(e)[:300]}")

    def _load_ctranslate2(self, model_dir, threads):
        """CTranslate2's Encoder on the checkpoint converted by its TransformersConverter (once, into
        model_dir/CT2_DIR), float32, `threads` intra-op threads."""
        try:
            import ctranslate2
        except ImportError as e:
            self.notes.append(f"CTranslate2: not installed ({e}); its row is skipped")
            return
        self.versions["ctranslate2"] = ctranslate2.__version__
        out = model_dir / CT2_DIR
        try:
            if not (out / "model.bin").exists():
                log(f"converting {model_dir} for CTranslate2 (float32) into {out}")
                converter = ctranslate2.converters.TransformersConverter(str(model_dir))
                converter.convert(str(out), quantization="float32", force=True)
            encoder = ctranslate2.Encoder(str(out), device="cpu", compute_type="float32", intra_threads=threads, inter_threads=1)
        except Exception as e:  # noqa: BLE001 - conversion unsupported or broken: report it, time the others
            self.notes.append(f"CTranslate2: skipped: conversion or loading failed: {type(e).__name__}: {str(e)[:300]}")
            return
        self.runners["ct2_encoder"] = ctranslate2_runner(ctranslate2, encoder)

    def check(self, seed):
        """Every peer against PyTorch on one 1×12 input: max |difference| of its output (the logits or
        the last hidden state) and the lowest cosine similarity over the positions."""
        import numpy as np

        ids, mask = random_ids(1, 12, seed)
        with self.torch.inference_mode():
            t_ids, t_mask = self.torch.from_numpy(ids), self.torch.from_numpy(mask)
            reference = {
                "full": self.model(input_ids=t_ids, attention_mask=t_mask).logits.numpy(),
                "encoder": self.model.distilbert(input_ids=t_ids, attention_mask=t_mask).last_hidden_state.numpy(),
            }
        checks = {}
        for key, runner in self.runners.items():
            if key == "torch_full":
                continue
            ours = np.array(runner(ids, mask)(), dtype=np.float64).reshape(reference[ENGINES[key]["output"]].shape)
            ref = reference[ENGINES[key]["output"]].astype(np.float64)
            cosine = (ours * ref).sum(-1) / (np.linalg.norm(ours, axis=-1) * np.linalg.norm(ref, axis=-1))
            checks[key] = {"max_abs_diff": float(np.abs(ours - ref).max()), "min_cosine": float(cosine.min())}
        return checks

    def measure(self, key, batch, seq, seed, warmup, runs):
        ids, mask = random_ids(batch, seq, seed)
        return time_callable(self.runners[key](ids, mask), warmup, runs)


def ort_runner(session, output):
    """One `session.run` per pass (ONNX Runtime allocates the output)."""

    def prepare(ids, mask):
        feeds = {"input_ids": ids, "attention_mask": mask}
        return lambda: session.run([output], feeds)[0]

    return prepare


def openvino_runner(compiled):
    """One synchronous `infer` per pass on one infer request, the inputs and the output shared with
    numpy rather than copied (the output is the request's own buffer)."""
    request = compiled.create_infer_request()

    def prepare(ids, mask):
        feeds = {"input_ids": ids, "attention_mask": mask}
        return lambda: request.infer(feeds, share_inputs=True, share_outputs=True)[0]

    return prepare


def ctranslate2_runner(ctranslate2, encoder):
    """One `forward_batch` per pass on the ids as a dense int32 array with every sequence's length
    (no padding); the last hidden state stays a CTranslate2 StorageView."""
    import numpy as np

    def prepare(ids, mask):
        ids32 = np.ascontiguousarray(ids, dtype=np.int32)
        lengths = mask.sum(axis=1).astype(np.int32)
        inputs, lens = ctranslate2.StorageView.from_array(ids32), ctranslate2.StorageView.from_array(lengths)

        def run():
            return encoder.forward_batch(inputs, lens).last_hidden_state

        run.arrays = (ids32, lengths)  # the views share their memory: keep it alive as long as `run`
        return run

    return prepare


# --------------------------------------------------------------------------------------------
# distil


def build_distil():
    """cargo build --release; returns (path, note)."""
    binary = ROOT / "target" / "release" / "distil"
    log("cargo build --release")
    r = subprocess.run(["cargo", "build", "--release", "--bin", "distil"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode == 0:
        return binary, "built by cargo build --release"
    tail = "\n".join(r.stderr.strip().splitlines()[-15:])
    if binary.exists():
        log(f"warning: cargo build --release failed; using the existing {binary}, which may be stale:\n{tail}")
        return binary, "cargo build --release FAILED; existing binary used (may be stale)"
    sys.exit(f"cargo build --release failed and there is no {binary}:\n{tail}")


def git_describe():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return head + (" + uncommitted changes" if dirty else "")
    except OSError:
        return "unknown"


def run_distil(binary, model_dir, mode_flags, batch, seq, threads, warmup, runs, dtype="f32"):
    cmd = [str(binary), "bench", "--model", str(model_dir), "--batch", str(batch), "--seq", str(seq),
           "--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup), "--json", *mode_flags]
    if dtype != "f32":
        cmd += ["--dtype", dtype]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]}
    for line in reversed(r.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": f"no JSON in the output: {r.stdout[:200]!r}"}


def check_distil(binary, model_dir, peers):
    """distil fill-mask on one text against PyTorch's softmax at the [MASK] (same model)."""
    import numpy as np

    text = "The capital of France is [MASK] and it is big."
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    tok = subprocess.run([str(binary), "tokenize", "--model", str(model_dir), "--json", text], capture_output=True, text=True, env=env)
    fill = subprocess.run([str(binary), "fill-mask", "--model", str(model_dir), "--json", "--top-k", "5", "--threads", "1", text],
                          capture_output=True, text=True, env=env)
    if tok.returncode != 0 or fill.returncode != 0:
        return {"error": (tok.stderr + fill.stderr).strip()[-300:]}
    ids = json.loads(tok.stdout.strip().splitlines()[0])["ids"]
    answers = json.loads(fill.stdout)
    if isinstance(answers, dict):
        answers = [answers]
    torch = peers.torch
    with torch.inference_mode():
        logits = peers.model(input_ids=torch.tensor([ids])).logits[0, ids.index(MASK_ID)]
    probs = torch.softmax(logits.double(), -1).numpy()
    top = np.argsort(-probs)[: len(answers)]
    ours = [a["token"] for a in answers]
    return {
        "top_k_ids_match": [int(t) for t in top] == ours,
        "max_abs_score_diff": float(max(abs(a["score"] - probs[a["token"]]) for a in answers)),
    }


# --------------------------------------------------------------------------------------------
# Measuring a set of shapes


def warmup_and_runs(batch, seq, runs, runs_large):
    """Warm-up and timed runs for one shape: the full count up to 128 tokens, fewer beyond."""
    tokens = batch * seq
    if tokens <= 128:
        return 3, runs
    if tokens <= 1024:
        return 2, runs_large
    return 1, max(3, runs_large // 2)


def measure_shape(batch, seq, engines, ctx):
    """Every engine on one shape, interleaved: the timed runs are split into rounds, and each round
    runs every engine in turn (in reverse order every other round), so that a change of load on the
    shared machine falls on all engines alike. An engine's median is the median of its round medians
    (distil reports one median per process, so the peers are summarized the same way)."""
    warmup, runs = warmup_and_runs(batch, seq, ctx["runs"], ctx["runs_large"])
    rounds = max(1, min(ctx["rounds"], runs // 2))
    per_round = -(-runs // rounds)
    log(f"  {batch}x{seq}: {rounds} round(s) of {per_round} runs per engine, warm-up {warmup}")
    rounds_of = {key: [] for key in engines}
    errors = {}
    for r in range(rounds):
        for key in engines if r % 2 == 0 else engines[::-1]:
            if key in errors:
                continue
            if ENGINES[key]["distil"]:
                # A fresh process each round: its own warm-up (the weights are in the page cache).
                dtype, mode = ENGINES[key]["distil"]
                w = warmup if r == 0 else min(warmup, 2)
                res = run_distil(ctx["binary"], ctx["model_dir"], DISTIL_MODES[mode][0], batch, seq, ctx["threads"], w, per_round, dtype)
            else:
                res = ctx["peers"].measure(key, batch, seq, ctx["seed"], warmup if r == 0 else 1, per_round)
            if "error" in res:
                log(f"    {key}: error: {res['error']}")
                errors[key] = res
            else:
                rounds_of[key].append(res)
                log(f"    round {r + 1} {key}: median {res['median_ms']:.2f} ms (min {res['min_ms']:.2f}, max {res['max_ms']:.2f})")
            time.sleep(ctx["pause"])  # let the previous engine's idle threads go to sleep
    row = {"batch": batch, "seq": seq, "warmup": warmup, "rounds": rounds, "engines": {}}
    for key in engines:
        if key in errors:
            row["engines"][key] = errors[key]
            continue
        done = rounds_of[key]
        f = flops(batch, seq, head_rows_for(key, batch, seq))
        median = statistics.median(d["median_ms"] for d in done)
        res = {
            "median_ms": median,
            "min_ms": min(d["min_ms"] for d in done),
            "max_ms": max(d["max_ms"] for d in done),
            "runs": sum(d["runs"] for d in done),
            "round_medians_ms": [d["median_ms"] for d in done],
            "gflop": f / 1e9,
            "gflops": f / (median * 1e-3) / 1e9,
        }
        if "times_ms" in done[0]:
            res["pooled_median_ms"] = statistics.median(t for d in done for t in d["times_ms"])
        if ENGINES[key]["distil"]:
            res["isa"], res["dtype"] = done[0].get("isa"), done[0].get("dtype", ENGINES[key]["precision"])
            res["distil_gflops"] = statistics.median(d["gflops"] for d in done)  # distil's own count
        row["engines"][key] = res
    row["ratios"] = ratios(row["engines"], "median_ms")
    row["min_ratios"] = ratios(row["engines"], "min_ms")
    return row


def stat_of(engines, key, stat):
    res = engines.get(key)
    return None if res is None or "error" in res else res[stat]


def fastest(engines, keys, stat):
    """The key among `keys` with the lowest `stat` in this row (None when none was timed)."""
    timed = [k for k in keys if stat_of(engines, k, stat) is not None]
    return min(timed, key=lambda k: stat_of(engines, k, stat)) if timed else None


def ratios(engines, stat="median_ms"):
    """distil / peer of one statistic (`median_ms` or `min_ms`) for the ratios issues 13 and 14 set
    targets on, and which peers were the fastest fp32 and int8 ones (by the same statistic)."""

    def ratio(num, den):
        a, b = stat_of(engines, num, stat), stat_of(engines, den, stat)
        return None if a is None or b is None else a / b

    encoder, full = fastest(engines, FP32_PEER_ENCODERS, stat), fastest(engines, FP32_PEER_FULL, stat)
    int8_encoder, int8_full = fastest(engines, INT8_PEER_ENCODERS, stat), fastest(engines, INT8_PEER_FULL, stat)
    return {
        "fastest_fp32_peer_encoder": encoder,
        "fastest_fp32_peer_full": full,
        "fastest_int8_peer_encoder": int8_encoder,
        "fastest_int8_peer_full": int8_full,
        "encoder_over_fastest_fp32_peer_encoder": ratio("distil_encoder_only", encoder),
        "fill_mask_over_fastest_fp32_peer_full": ratio("distil_fill_mask", full),
        "full_logits_over_fastest_fp32_peer_full": ratio("distil_full_logits", full),
        "encoder_over_openvino_fp32_encoder": ratio("distil_encoder_only", "ov_fp32_encoder"),
        "bf16_encoder_over_openvino_bf16_encoder": ratio("distil_bf16_encoder_only", "ov_bf16_encoder"),
        "bf16_fill_mask_over_openvino_bf16_full": ratio("distil_bf16_fill_mask", "ov_bf16_full"),
        "int8_encoder_over_openvino_int8_encoder": ratio("distil_int8_encoder_only", "ov_int8_encoder"),
        "int8_encoder_over_fastest_int8_peer_encoder": ratio("distil_int8_encoder_only", int8_encoder),
        "int8_fill_mask_over_fastest_int8_peer_full": ratio("distil_int8_fill_mask", int8_full),
        "torch_full_over_ort_full": ratio("torch_full", "ort_full"),
    }


def batch_scaling(rows, stat="median_ms"):
    """Per engine: its time per sequence at BATCH_SCALING_TO×SCALING_SEQ over its time per sequence at
    BATCH_SCALING_FROM×SCALING_SEQ (1: batching costs nothing; above 1: each sequence gets slower)."""
    by_batch = {r["batch"]: r["engines"] for r in rows if r["seq"] == SCALING_SEQ}
    small, large = by_batch.get(BATCH_SCALING_FROM, {}), by_batch.get(BATCH_SCALING_TO, {})
    out = {}
    for key in large:
        a, b = stat_of(small, key, stat), stat_of(large, key, stat)
        if a is not None and b is not None:
            out[key] = (b / BATCH_SCALING_TO) / (a / BATCH_SCALING_FROM)
    return out


# The rows of the ratio tables: heading, ratio key, target (a {shape: bound} dict, or one bound for
# every shape), and the key naming the peer when it is "the fastest".
RATIO_ROWS = [
    ("distil fp32 encoder / fastest fp32 peer encoder", "encoder_over_fastest_fp32_peer_encoder", ENCODER_VS_FASTEST_TARGETS,
     "fastest_fp32_peer_encoder"),
    ("distil fp32 fill-mask / fastest fp32 peer full", "fill_mask_over_fastest_fp32_peer_full", FILL_MASK_VS_FASTEST_TARGETS,
     "fastest_fp32_peer_full"),
    ("distil fp32 full-logits / fastest fp32 peer full (like for like)", "full_logits_over_fastest_fp32_peer_full", {},
     "fastest_fp32_peer_full"),
    ("distil fp32 encoder / OpenVINO fp32 encoder", "encoder_over_openvino_fp32_encoder", {}, None),
    ("distil bf16 encoder / OpenVINO bf16 encoder", "bf16_encoder_over_openvino_bf16_encoder", BF16_ENCODER_VS_OPENVINO_TARGET, None),
    ("distil bf16 fill-mask / OpenVINO bf16 full", "bf16_fill_mask_over_openvino_bf16_full", {}, None),
    ("distil int8 encoder / OpenVINO int8 encoder", "int8_encoder_over_openvino_int8_encoder", INT8_ENCODER_VS_OPENVINO_TARGET, None),
    ("distil int8 encoder / fastest int8 peer encoder", "int8_encoder_over_fastest_int8_peer_encoder", {}, "fastest_int8_peer_encoder"),
    ("distil int8 fill-mask / fastest int8 peer full", "int8_fill_mask_over_fastest_int8_peer_full", INT8_FILL_MASK_VS_FASTEST_TARGET,
     "fastest_int8_peer_full"),
    ("PyTorch full / ORT full (a sanity check, see ../shared/machine.md)", "torch_full_over_ort_full", {}, None),
]


def target_for(target, shape):
    return target.get(shape) if isinstance(target, dict) else target


# --------------------------------------------------------------------------------------------
# Printing


def fmt_ms(engines, key):
    res = engines.get(key)
    if res is None:
        return "—"
    if "error" in res:
        return "error"
    return fmt_num(res["median_ms"])


def fmt_num(value):
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def fmt_ratio(value, target=None, peer=None):
    """`0.93 ✗ (≤0.9)`, with `; vs OpenVINO` when the ratio is against whichever peer was fastest."""
    if value is None:
        return "—"
    text = f"{value:.2f}"
    notes = []
    if target is not None:
        text += f" {'✓' if value <= target else '✗'}"
        notes.append(f"≤{target}")
    if peer:
        notes.append(f"vs {ENGINES[peer]['short']}")
    return text + (f" ({'; '.join(notes)})" if notes else "")


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(["---"] + ["--:"] * (len(headers) - 1)) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def shape_label(row):
    return f"{row['batch']}×{row['seq']}"


def peak_for(machine, ctx, key):
    """The measured peak at N threads an engine's GFLOP/s is a fraction of: FP32 FMA, or the bf16
    dot-product peak for bf16 engines, the int8 one (GOPS) for int8 engines. Only their linears are
    int8 (attention, softmax and the like stay f32 or bf16), so theirs is a fraction of a ceiling
    they cannot reach."""
    name = {"bf16": "bf16_peak_gflops", "int8": "int8_peak_gops"}.get(ENGINES[key]["precision"], "peak_gflops")
    return machine.get(name, {}).get(ctx["threads"])


def fmt_gflops(res, peak):
    if res is None or "error" in res:
        return "—"
    return f"{res['gflops']:.0f}" + (f" ({100 * res['gflops'] / peak:.0f}%)" if peak else "")


def fmt_per_thread(values, unit, digits=0):
    return ", ".join(f"{t} thread{'s' if t > 1 else ''} {v:.{digits}f} {unit}" for t, v in sorted(values.items()))


def print_header(machine, cpu, caches, ctx, meta):
    flags = cpu["flags"]
    isa = [f for f in ("avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "avx2", "fma", "f16c")
           if f in flags]
    print(f"# distil vs peers — {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print()
    fam = f", family {cpu.get('family', '?')} model {cpu.get('model', '?')}"
    cache = ", ".join(f"{k} {v}" for k, v in caches.items())
    print(f"- CPU: {cpu['model_name']}{fam}; {os.cpu_count()} logical CPUs; {cache}")
    kernels = ", ".join(f"{dtype_label(d)} {i}" for d, i in meta.get("distil_isa", {}).items()) or "?"
    print(f"- ISA flags: {' '.join(isa) or 'none of note'}; distil kernels: {kernels}")
    print(f"- threads: {ctx['threads']} (distil --threads; ORT intra_op_num_threads with inter_op 1; OpenVINO INFERENCE_NUM_THREADS "
          f"with PERFORMANCE_HINT=LATENCY; CTranslate2 intra_threads with inter_threads 1; torch.set_num_threads); "
          f"ORT spinning threads {'on (its default)' if ctx['ort_spin'] else 'off (--ort-no-spin)'}; "
          f"OMP_WAIT_POLICY={ctx['omp_wait_policy']} (PyTorch's and CTranslate2's libgomp)")
    print(f"- timing: per shape, up to {ctx['rounds']} interleaved rounds per engine (order reversed every other round); "
          f"an engine's median is the median of its round medians; precisions timed: "
          f"{', '.join(dtype_label(d) for d in ctx['dtypes'])} (--dtypes)")
    if machine.get("error"):
        why = "" if "avx512f" in flags else "; this CPU has no AVX-512, which parts of the script are built for"
        print(f"- measure-machine.sh: FAILED ({machine['error'].strip()}{why})")
    src = machine.get("sources", {})
    figures = [
        ("peak_gflops", "FP32 FMA peak", "GFLOP/s", 0),
        ("bf16_peak_gflops", "bf16 dot-product peak (vdpbf16ps)", "GFLOP/s", 0),
        ("int8_peak_gops", "int8 dot-product peak (vpdpbusd)", "GOPS", 0),
        ("dram_read_gbs", "DRAM read", "GB/s", 1),
    ]
    for name, label, unit, digits in figures:
        if machine.get(name):
            print(f"- {label} ({src.get(name, '?')}): {fmt_per_thread(machine[name], unit, digits)}")
    peak, t = machine.get("peak_gflops", {}), ctx["threads"]
    if t > 1 and 1 in peak and t in peak and peak[t] < 0.75 * t * peak[1]:
        print(f"- warning: the {t}-thread FP32 peak is only {peak[t] / peak[1]:.1f}× the 1-thread one: another job held a core "
              f"while it was measured, so the percentages of peak below are overstated")
    if not machine:
        print("- peaks and bandwidth: not measured (--skip-machine)")
    elif not machine.get("peak_gflops") and not machine.get("dram_read_gbs"):
        print("- peak and bandwidth: not measured (every measurement failed)")
    print(f"- load average at start: {meta['load_start']}; at end: {meta.get('load_end', '?')} (the machine is shared: compare ratios, not absolute times)")
    try:
        busy = float(meta["load_start"].split()[0])
    except (ValueError, IndexError):
        busy = 0.0
    if busy >= (os.cpu_count() or 1) / 2:
        print(f"- warning: the machine was busy before this run started (1-minute load {busy:.1f} on {os.cpu_count()} CPUs): "
              f"the medians are dominated by contention, which does not hit every engine alike; read the ratios of "
              f"minimums beside them, and rerun on a quiet machine before judging a target")
    v = meta["versions"]
    peers = [f"ONNX Runtime {v['onnxruntime']} (CPU EP, ORT_ENABLE_ALL)"]
    if "openvino" in v:
        hints = ", ".join(f"{name}: {c['INFERENCE_PRECISION_HINT']}" for name, c in meta.get("openvino_config", {}).items())
        peers.append(f"OpenVINO {v['openvino']} (CPU plugin, from the ONNX files; inference precision as compiled: {hints})")
    if "ctranslate2" in v:
        peers.append(f"CTranslate2 {v['ctranslate2']} (float32)")
    peers += [f"PyTorch {v['torch']}", f"transformers {v['transformers']}"]
    print(f"- distil {meta['git']} ({meta['distil_build']}); " + "; ".join(peers))
    int8 = meta.get("int8_models", {})
    if int8:
        how = []
        if any(k.startswith("ov_") for k in int8):
            how.append(f"OpenVINO int8: NNCF {v.get('nncf', '?')} post-training quantization (model_type TRANSFORMER, default "
                       f"preset, {INT8_CALIBRATION_PER_SHAPE} random inputs per shape of {', '.join(f'{b}×{s}' for b, s in MAIN_SHAPES)}), "
                       f"compiled with INFERENCE_PRECISION_HINT=f32 for what it left unquantized")
        if any(k.startswith("ort_") for k in int8):
            how.append("ORT int8: quantize_dynamic (per_channel, QInt8 weights; uint8 activations quantized at run time)")
        files = ", ".join(f"{ENGINES[k]['heading']} {f}" for k, f in int8.items())
        print(f"- int8 peers: {'; '.join(how)}; quantized models in the model folder: {files}")
    print(f"- model: {meta['model_dir']} (random weights, seed {meta['model_seed']}, distilbert-base-cased shapes); "
          f"ONNX: {meta['exporter']}")
    checks = meta.get("peer_checks", {})
    if checks:
        parts = []
        for key, c in checks.items():
            part = f"{ENGINES[key]['heading']} {c['max_abs_diff']:.1e}"
            if ENGINES[key]["precision"] != "f32":
                part += f" (min cosine {c['min_cosine']:.6f})"
            elif c["max_abs_diff"] > 1e-3:
                part += " (NOT within 1e-3)"
            parts.append(part)
        print(f"- peers vs PyTorch on 1×12, max |Δ| (fp32 expected within 1e-3): " + "; ".join(parts))
    dchk = meta.get("distil_check", {})
    if dchk and "error" not in dchk:
        print(f"- distil fill-mask vs PyTorch (one text): top-5 ids {'match' if dchk['top_k_ids_match'] else 'DIFFER'}, "
              f"max |Δ score| {dchk['max_abs_score_diff']:.1e}")
    elif dchk:
        print(f"- distil fill-mask check failed: {dchk['error']}")
    for note in meta["notes"]:
        print(f"- {note}")
    print()


def print_main(rows, machine, ctx, wbytes):
    engines = [k for k in ctx["engines"] if any(k in r["engines"] for r in rows)]
    shapes = [shape_label(r) for r in rows]
    print("## Median ms per forward pass (lower is better)")
    print()
    print(table(["engine"] + shapes, [[ENGINES[k]["heading"]] + [fmt_ms(r["engines"], k) for r in rows] for k in engines]))
    print()
    print("Timed runs per engine: " + ", ".join(f"{shape_label(r)} {'/'.join(map(str, sorted({v['runs'] for v in r['engines'].values() if 'runs' in v})))} "
                                                f"in {r['rounds']} round{'s' if r['rounds'] > 1 else ''}" for r in rows) + ".")
    print()

    print("## Ratios of medians (distil / peer, from this run; targets from issues 13 and 14)")
    print()
    print_ratios(rows, "ratios")
    print("## Ratios of minimums (the least disturbed run of each engine; on a busy machine, a check on the medians)")
    print()
    print_ratios(rows, "min_ratios")

    print("## Achieved GFLOP/s (median) and % of the measured peak at this thread count (bf16 engines: of the bf16 peak, int8 engines: of the int8 one)")
    print()
    body = [[ENGINES[k]["heading"]] + [fmt_gflops(r["engines"].get(k), peak_for(machine, ctx, k)) for r in rows] for k in engines]
    print(table(["engine"] + shapes, body))
    print()
    print("GFLOP per pass (full logits / encoder only): " +
          ", ".join(f"{shape_label(r)} {flops(r['batch'], r['seq'], r['batch'] * r['seq']) / 1e9:.1f} / {flops(r['batch'], r['seq'], 0) / 1e9:.1f}"
                    for r in rows) + ".")
    print()

    small = [r for r in rows if r["batch"] * r["seq"] <= 16]
    if small:
        bw = machine.get("dram_read_gbs", {}).get(ctx["threads"])
        mb_full = (wbytes["encoder"] + wbytes["head"]) / 1e6
        mb_enc = wbytes["encoder"] / 1e6
        print(f"## Weight streaming at short inputs: GB/s = weight bytes / median time "
              f"(fp32: {mb_full:.0f} MB with the MLM head, {mb_enc:.0f} MB encoder only; bf16 half that; "
              f"int8 a quarter of the encoder's, the head's counted as fp32"
              f"{f'; measured DRAM read {bw:.1f} GB/s' if bw else ''})")
        print()
        body = []
        for key in engines:
            line = [ENGINES[key]["heading"]]
            for r in small:
                res = r["engines"].get(key)
                if res is None or "error" in res:
                    line.append("—")
                    continue
                # int8: a quarter for the layers (their linears are int8; the biases and LayerNorms, under
                # 1%, are not worth a case), the MLM head counted as f32: distil keeps it so, and what
                # the peers make of it is their quantizer's choice (ORT's computes the projector in f32).
                precision = ENGINES[key]["precision"]
                b = wbytes["encoder"] * {"bf16": 0.5, "int8": 0.25}.get(precision, 1.0)
                if ENGINES[key]["output"] != "encoder":
                    b += wbytes["head"] * (0.5 if precision == "bf16" else 1.0)
                line.append(f"{b / (res['median_ms'] * 1e-3) / 1e9:.1f}")
            body.append(line)
        print(table(["engine"] + [shape_label(r) for r in small], body))
        print()

    print("## Spread: min – max ms")
    print()
    body = []
    for key in engines:
        line = [ENGINES[key]["heading"]]
        for r in rows:
            res = r["engines"].get(key)
            line.append("—" if res is None or "error" in res else f"{fmt_num(res['min_ms'])} – {fmt_num(res['max_ms'])}")
        body.append(line)
    print(table(["engine"] + shapes, body))
    print()
    print_errors(rows)


def print_ratios(rows, which):
    """One line per RATIO_ROWS entry that has a value at some shape, one column per shape."""
    body = []
    for heading, name, target, peer in RATIO_ROWS:
        cells = [fmt_ratio(r[which][name], target_for(target, (r["batch"], r["seq"])), r[which][peer] if peer else None) for r in rows]
        if any(c != "—" for c in cells):
            body.append([heading] + cells)
    print(table(["distil / peer"] + [shape_label(r) for r in rows], body))
    print()


def print_errors(rows):
    errors = [(r, k, v["error"]) for r in rows for k, v in r["engines"].items() if "error" in v]
    for r, k, err in errors:
        print(f"- {shape_label(r)} {ENGINES[k]['heading']}: error: {err}")
    if errors:
        print()


def print_scaling(rows, machine, ctx):
    engines = [k for k in ctx["engines"] if any(k in r["engines"] for r in rows)]
    shapes = [shape_label(r) for r in rows]
    print(f"## Batch scaling at sequence {SCALING_SEQ}, encoder only: median ms per sequence (lower is better)")
    print()
    body = []
    for key in engines:
        line = [ENGINES[key]["heading"]]
        for r in rows:
            ms = stat_of(r["engines"], key, "median_ms")
            line.append("—" if ms is None else fmt_num(ms / r["batch"]))
        body.append(line)
    print(table(["engine"] + shapes, body))
    print()
    print("## Batch scaling: achieved GFLOP/s (median) and % of the measured peak (bf16 engines: of the bf16 peak, int8 engines: of the int8 one)")
    print()
    print(table(["engine"] + shapes, [[ENGINES[k]["heading"]] + [fmt_gflops(r["engines"].get(k), peak_for(machine, ctx, k)) for r in rows]
                                      for k in engines]))
    print()

    print(f"## Batch scaling: ratios (targets from issues 13 and 14)")
    print()
    per_seq = {which: batch_scaling(rows, stat) for which, stat in (("medians", "median_ms"), ("minimums", "min_ms"))}
    label = f"ms per sequence at {BATCH_SCALING_TO}×{SCALING_SEQ} / at {BATCH_SCALING_FROM}×{SCALING_SEQ}"
    body = []
    for key in engines:
        if key in per_seq["medians"]:
            target = BATCH_SCALING_TARGET if key == "distil_encoder_only" else None
            body.append([f"{ENGINES[key]['heading']}: {label}", fmt_ratio(per_seq["medians"][key], target),
                         fmt_ratio(per_seq["minimums"].get(key), target)])
    print(table(["ratio", "of medians", "of minimums"], body))
    print()
    rows_of = [
        ("distil fp32 encoder / OpenVINO fp32 encoder", "encoder_over_openvino_fp32_encoder",
         {(BATCH_SCALING_TO, SCALING_SEQ): ENCODER_VS_OPENVINO_AT_32_TARGET}, None),
        ("distil fp32 encoder / fastest fp32 peer encoder", "encoder_over_fastest_fp32_peer_encoder", {}, "fastest_fp32_peer_encoder"),
        ("distil bf16 encoder / OpenVINO bf16 encoder", "bf16_encoder_over_openvino_bf16_encoder", BF16_ENCODER_VS_OPENVINO_TARGET, None),
        ("distil int8 encoder / OpenVINO int8 encoder", "int8_encoder_over_openvino_int8_encoder", INT8_ENCODER_VS_OPENVINO_TARGET, None),
    ]
    for which, title in (("ratios", "medians"), ("min_ratios", "minimums")):
        body = []
        for heading, name, target, peer in rows_of:
            cells = [fmt_ratio(r[which][name], target_for(target, (r["batch"], r["seq"])), r[which][peer] if peer else None) for r in rows]
            if any(c != "—" for c in cells):
                body.append([f"{heading} ({title})"] + cells)
        print(table(["distil / peer"] + shapes, body))
        print()
    print_errors(rows)


# --------------------------------------------------------------------------------------------


def parse_shapes(text):
    shapes = []
    for part in text.split(","):
        b, _, s = part.strip().lower().partition("x")
        shapes.append((int(b), int(s)))
    return shapes


def parse_dtypes(text):
    """`f32,int8` -> ["f32", "int8"], in DISTIL_DTYPES' order; `fp32` is read as `f32`."""
    asked = {"f32" if d.strip().lower() == "fp32" else d.strip().lower() for d in text.split(",") if d.strip()}
    unknown = asked - set(DISTIL_DTYPES)
    if unknown or not asked:
        raise argparse.ArgumentTypeError(f"a comma-separated list of {', '.join(DISTIL_DTYPES)}; got {text!r}")
    return [d for d in DISTIL_DTYPES if d in asked]


def load_average():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="threads for every engine (default 2)")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per engine for shapes up to 128 tokens (default 20)")
    ap.add_argument("--runs-large", type=int, default=None, help="timed runs for larger shapes (default runs/2, at least 5)")
    ap.add_argument("--shapes", default=",".join(f"{b}x{s}" for b, s in MAIN_SHAPES), help="batch×seq list (default 1x12,1x128,8x128,1x512)")
    ap.add_argument("--dtypes", type=parse_dtypes, default=list(DISTIL_DTYPES),
                    help="the precisions to time, distil's and the peers' alike (default f32,bf16,int8; `--dtypes int8` times "
                         "only distil int8 and the int8 peers, `--dtypes f32,int8` adds the fp32 ones to compare with)")
    ap.add_argument("--scaling", action="store_true",
                    help=f"also time the encoders at batch {', '.join(map(str, SCALING_BATCHES))} × seq {SCALING_SEQ} (slow)")
    ap.add_argument("--scaling-only", action="store_true", help="only the batch-scaling tables")
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the random checkpoint and its ONNX exports")
    ap.add_argument("--distil", type=Path, help="a distil binary to use instead of building target/release/distil")
    ap.add_argument("--no-build", action="store_true", help="use target/release/distil as it is")
    ap.add_argument("--skip-machine", action="store_true", help="do not measure the peaks and the bandwidth")
    ap.add_argument("--rounds", type=int, default=4, help="split each engine's runs into this many interleaved rounds (default 4)")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds of idle between engines (default 0.5)")
    ap.add_argument("--torch-omp-wait-policy", choices=["passive", "active", "unset"], default="passive",
                    help="OMP_WAIT_POLICY for PyTorch and CTranslate2 (default passive: libgomp's spinning collapses on a shared machine)")
    ap.add_argument("--ort-no-spin", action="store_true", help="ONNX Runtime without spinning threads (default: its default, spinning)")
    ap.add_argument("--json", type=Path, help="also write every number to this JSON file")
    args = ap.parse_args()
    if args.runs_large is None:
        args.runs_large = max(5, args.runs // 2)
    # Before torch and CTranslate2 (and their OpenMP runtime) are loaded.
    if args.torch_omp_wait_policy != "unset":
        os.environ["OMP_WAIT_POLICY"] = args.torch_omp_wait_policy.upper()
    started = time.perf_counter()
    meta = {"load_start": load_average(), "model_dir": os.path.relpath(args.model_dir, ROOT), "notes": []}

    cpu, caches = read_cpuinfo(), cache_sizes()
    machine = {} if args.skip_machine else measure_machine(args.threads)

    built = ensure_model_dir(args.model_dir, args.seed, args.rebuild)
    meta["exporter"] = built.get("onnx_exporters", {}).get("model.onnx", "?")
    meta["model_seed"] = built.get("seed")

    if args.distil:
        binary, meta["distil_build"] = args.distil.resolve(), f"--distil {args.distil}"
    elif args.no_build:
        binary, meta["distil_build"] = ROOT / "target" / "release" / "distil", "existing target/release/distil"
    else:
        binary, meta["distil_build"] = build_distil()
    meta["git"] = git_describe()

    peers = Peers(args.model_dir, args.threads, cpu["flags"], ort_spin=not args.ort_no_spin, dtypes=args.dtypes, seed=args.seed)
    meta["versions"] = peers.versions
    meta["int8_models"] = peers.int8_models
    meta["openvino_config"] = getattr(peers, "openvino_config", {})
    meta["notes"] += peers.notes
    meta["peer_checks"] = peers.check(args.seed)
    for key, c in meta["peer_checks"].items():
        if ENGINES[key]["precision"] == "f32" and c["max_abs_diff"] > 1e-3:
            log(f"warning: {ENGINES[key]['heading']} and PyTorch differ by more than 1e-3: {c}")
    meta["distil_check"] = check_distil(binary, args.model_dir, peers)
    wbytes = weight_bytes(peers.model)

    # Every dtype of --dtypes the binary accepts; the others are skipped, and the report says why.
    dtypes, meta["distil_isa"] = [], {}
    for dtype in args.dtypes:
        probe = run_distil(binary, args.model_dir, [], 1, 12, args.threads, 1, 1, dtype=dtype)
        if "error" in probe:
            note = f"distil {dtype}: skipped: `distil bench --dtype {dtype}` failed: {probe['error']}"
            log(note)
            meta["notes"].append(note)
        else:
            dtypes.append(dtype)
            meta["distil_isa"][dtype] = probe.get("isa", "?")
    if not dtypes:
        sys.exit(f"distil bench does not run in any of {', '.join(args.dtypes)}")

    # distil first (dtype by dtype), then the peers: each in its own quiet stretch of a round.
    order = [distil_key(d, m) for d in dtypes for m in DISTIL_MODES] + [k for k in PEER_ENGINES if k in peers.runners]
    ctx = {"binary": binary, "model_dir": args.model_dir, "threads": args.threads, "runs": args.runs,
           "runs_large": args.runs_large, "seed": args.seed, "peers": peers, "pause": args.pause, "rounds": args.rounds,
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"), "ort_spin": not args.ort_no_spin, "engines": order,
           "dtypes": args.dtypes}

    rows, scaling = [], []
    if not args.scaling_only:
        for batch, seq in parse_shapes(args.shapes):
            log(f"shape {batch}x{seq}")
            rows.append(measure_shape(batch, seq, order, ctx))
    if args.scaling or args.scaling_only:
        encoders = [k for k in order if ENGINES[k]["output"] == "encoder"]
        for batch in SCALING_BATCHES:
            log(f"scaling {batch}x{SCALING_SEQ}")
            scaling.append(measure_shape(batch, SCALING_SEQ, encoders, ctx))

    meta["load_end"] = load_average()
    meta["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_header(machine, cpu, caches, ctx, meta)
    if rows:
        print_main(rows, machine, ctx, wbytes)
    if scaling:
        print_scaling(scaling, machine, ctx)
    print(f"(whole run: {meta['elapsed_s']:.0f} s)")

    if args.json:
        doc = {
            "meta": {**meta, "distil_binary": str(binary), "engines": {k: ENGINES[k] for k in order}},
            "machine": {
                "cpu": cpu["model_name"], "family": cpu.get("family"), "model": cpu.get("model"), "caches": caches,
                "flags": sorted(f for f in cpu["flags"] if f.startswith(("avx", "fma", "f16c", "amx"))),
                "measurement": {k: v for k, v in machine.items()},
            },
            "threads": args.threads,
            "dtypes": args.dtypes,
            "weight_bytes": wbytes,
            "targets": {
                "encoder_over_fastest_fp32_peer_encoder": {f"{b}x{s}": t for (b, s), t in ENCODER_VS_FASTEST_TARGETS.items()},
                "fill_mask_over_fastest_fp32_peer_full": {f"{b}x{s}": t for (b, s), t in FILL_MASK_VS_FASTEST_TARGETS.items()},
                "distil_encoder_per_sequence_batch_scaling": {
                    "from": f"{BATCH_SCALING_FROM}x{SCALING_SEQ}", "to": f"{BATCH_SCALING_TO}x{SCALING_SEQ}", "max": BATCH_SCALING_TARGET},
                f"encoder_over_openvino_fp32_encoder_at_{BATCH_SCALING_TO}x{SCALING_SEQ}": ENCODER_VS_OPENVINO_AT_32_TARGET,
                "bf16_encoder_over_openvino_bf16_encoder": BF16_ENCODER_VS_OPENVINO_TARGET,
                "int8_encoder_over_openvino_int8_encoder": INT8_ENCODER_VS_OPENVINO_TARGET,
                "int8_fill_mask_over_fastest_int8_peer_full": INT8_FILL_MASK_VS_FASTEST_TARGET,
            },
            "shapes": rows,
            "scaling": scaling,
            "batch_scaling": {"median": batch_scaling(scaling, "median_ms"), "min": batch_scaling(scaling, "min_ms")},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1, default=str) + "\n")
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
