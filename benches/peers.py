#!/usr/bin/env python3
"""distil against its peers (ONNX Runtime, PyTorch) on this machine, in one run.

    .venv-ref/bin/python benches/peers.py [--threads 2] [--runs 20] [--scaling] [--json FILE]

Builds (once) a random-weight checkpoint shaped exactly like distilbert-base-cased in
weights/distilbert-base-random/ (safetensors, vocab.txt, tokenizer_config.json, model.onnx,
encoder.onnx), builds the release binary, then times every engine on the same shapes and prints
markdown tables: median ms, the ratios issue 4's targets are about, achieved GFLOP/s and GB/s, and
the machine's own measured FP32 peak and DRAM bandwidth. See benches/README.md.

Nothing here touches the Hugging Face hub.
"""

import os

# Before transformers is imported: never reach for the hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
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
SCALING_SEQS = [12, 32, 64, 128, 256, 512]  # at batch 1
SCALING_BATCHES = [1, 2, 4, 8, 16, 32]  # at seq 128

# Issue 4's targets, as upper bounds on distil / peer (median over median).
FILL_MASK_TARGETS = {(1, 12): 0.8, (1, 128): 0.6, (8, 128): 0.7, (1, 512): 0.7}
ENCODER_TARGETS = {(1, 128): 0.95, (8, 128): 0.95}

DISTIL_MODES = {  # our name -> extra `distil bench` flags
    "fill-mask": [],
    "full-logits": ["--full-logits"],
    "encoder-only": ["--encoder-only"],
}

# Columns of the main table, in order: key, heading.
ENGINES = [
    ("ort_full", "ORT full"),
    ("ort_encoder", "ORT encoder"),
    ("torch_full", "PyTorch full"),
    ("distil_fill_mask", "distil fill-mask"),
    ("distil_full_logits", "distil full-logits"),
    ("distil_encoder_only", "distil encoder-only"),
]
BF16_ENGINES = [
    ("distil_bf16_fill_mask", "distil bf16 fill-mask"),
    ("distil_bf16_encoder_only", "distil bf16 encoder-only"),
]


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
    if "encoder" in key:
        return 0
    if "fill_mask" in key:
        return batch  # one [MASK] per sequence
    return batch * seq  # full logits


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


def parse_measurements(text):
    """`threads=T GFLOP/s=X` and `threads=T read GB/s=Y` lines (the best of any repeats) ->
    {'peak_gflops': {T: X}, 'dram_read_gbs': {T: Y}}."""
    peak, bw = {}, {}
    for m in re.finditer(r"threads=(\d+) GFLOP/s=([\d.]+)", text):
        t = int(m.group(1))
        peak[t] = max(peak.get(t, 0.0), float(m.group(2)))
    for m in re.finditer(r"threads=(\d+) read GB/s=([\d.]+)", text):
        t = int(m.group(1))
        bw[t] = max(bw.get(t, 0.0), float(m.group(2)))
    return {"peak_gflops": peak, "dram_read_gbs": bw}


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
    """Runs ../shared/tools/measure-machine.sh; falls back to an AVX2 measurement when it fails."""
    result = {"source": None, "error": None, "raw": ""}
    if MEASURE_MACHINE.exists():
        log(f"measuring the machine: bash {MEASURE_MACHINE}")
        try:
            outputs = []
            for _ in range(REPEATS):
                r = subprocess.run(["bash", str(MEASURE_MACHINE)], capture_output=True, text=True, timeout=300)
                if r.returncode != 0:
                    break
                outputs.append(r.stdout)
            result["raw"] = ("".join(outputs) + r.stderr).strip()
            parsed = parse_measurements("".join(outputs))
            if outputs and parsed["peak_gflops"] and parsed["dram_read_gbs"]:
                result.update(parsed, source=f"measure-machine.sh, best of {len(outputs)}")
                return result
            last = " ".join((r.stderr.strip().splitlines() or ["no output"])[-1].split())
            result["error"] = f"measure-machine.sh exited with {r.returncode}: {last}"
        except (OSError, subprocess.SubprocessError) as e:
            result["error"] = f"measure-machine.sh could not run: {e}"
    else:
        result["error"] = f"{MEASURE_MACHINE} not found"
    log(f"warning: {result['error']}; measuring with AVX2 + FMA instead")
    try:
        parsed, raw = measure_machine_avx2(threads)
        result.update(parsed, source=f"AVX2+FMA fallback in peers.py, best of {REPEATS}", raw_fallback=raw)
    except (OSError, subprocess.SubprocessError) as e:
        log(f"warning: the AVX2 fallback failed too: {e}")
        result.update(peak_gflops={}, dram_read_gbs={})
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

    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB_SIZE, (2, 16), generator=gen)
    mask = torch.ones_like(ids)
    exporters = {}
    with torch.no_grad():
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
        "config": "DistilBertConfig(vocab_size=28996)",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "onnx_exporters": exporters,
        "built_by": "benches/peers.py",
    }
    (model_dir / "peers-build.json").write_text(json.dumps(manifest, indent=1) + "\n")


MODEL_FILES = ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "model.onnx", "encoder.onnx", "peers-build.json"]


def ensure_model_dir(model_dir, seed, rebuild):
    if not rebuild:
        missing = [f for f in MODEL_FILES if not (model_dir / f).exists()]
        if not missing:
            built = json.loads((model_dir / "peers-build.json").read_text())
            if built.get("seed") == seed:
                return built
            log(f"{model_dir} was built with seed {built.get('seed')}, not {seed}: rebuilding")
        else:
            log(f"{model_dir}: missing {', '.join(missing)}")
    for f in MODEL_FILES + ["special_tokens_map.json", "generation_config.json"]:
        (model_dir / f).unlink(missing_ok=True)
    build_model_dir(model_dir, seed)
    return json.loads((model_dir / "peers-build.json").read_text())


def weight_bytes(model):
    """Bytes of fp32 weights read per forward pass: the six layers, and the MLM head (vocab
    transform, its LayerNorm, the projector = the word-embedding table, and its bias)."""
    layers = sum(p.numel() * p.element_size() for n, p in model.named_parameters() if ".transformer.layer." in n)
    head = sum(p.numel() * p.element_size() for n, p in model.named_parameters() if n.startswith(("vocab_transform", "vocab_layer_norm")))
    head += model.vocab_projector.bias.numel() * 4 + model.distilbert.embeddings.word_embeddings.weight.numel() * 4
    return {"encoder": layers, "head": head}


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
    """PyTorch and ONNX Runtime, loaded once."""

    def __init__(self, model_dir, threads, ort_spin=True):
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

        def session(path):
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if not ort_spin:
                so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])

        log("loading ONNX Runtime sessions")
        self.ort_full = session(model_dir / "model.onnx")
        self.ort_encoder = session(model_dir / "encoder.onnx")
        self.versions = {"torch": torch.__version__, "onnxruntime": ort.__version__, "transformers": __import__("transformers").__version__}
        self.torch_config = {"threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available()}

    def check(self, seed):
        """ORT (full and encoder) against PyTorch on one input; max |difference| of each."""
        import numpy as np

        ids, mask = random_ids(1, 12, seed)
        feeds = {"input_ids": ids, "attention_mask": mask}
        with self.torch.inference_mode():
            t_ids, t_mask = self.torch.from_numpy(ids), self.torch.from_numpy(mask)
            logits = self.model(input_ids=t_ids, attention_mask=t_mask).logits.numpy()
            hidden = self.model.distilbert(input_ids=t_ids, attention_mask=t_mask).last_hidden_state.numpy()
        ort_logits = self.ort_full.run(["logits"], feeds)[0]
        ort_hidden = self.ort_encoder.run(["last_hidden_state"], feeds)[0]
        return {
            "logits_max_abs_diff": float(np.abs(ort_logits - logits).max()),
            "hidden_max_abs_diff": float(np.abs(ort_hidden - hidden).max()),
        }

    def measure(self, which, batch, seq, seed, warmup, runs):
        ids, mask = random_ids(batch, seq, seed)
        if which == "torch_full":
            t_ids, t_mask = self.torch.from_numpy(ids), self.torch.from_numpy(mask)

            def fn():
                with self.torch.inference_mode():
                    self.model(input_ids=t_ids, attention_mask=t_mask).logits

        else:
            sess, out = (self.ort_full, "logits") if which == "ort_full" else (self.ort_encoder, "last_hidden_state")
            feeds = {"input_ids": ids, "attention_mask": mask}

            def fn():
                sess.run([out], feeds)

        return time_callable(fn, warmup, runs)


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
            if key.startswith("distil_"):
                # A fresh process each round: its own warm-up (the weights are in the page cache).
                w = warmup if r == 0 else min(warmup, 2)
                dtype = "bf16" if key.startswith("distil_bf16_") else "f32"
                mode = key.removeprefix("distil_bf16_" if dtype == "bf16" else "distil_").replace("_", "-")
                res = run_distil(ctx["binary"], ctx["model_dir"], DISTIL_MODES[mode], batch, seq, ctx["threads"], w, per_round, dtype)
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
        if key.startswith("distil_"):
            res["isa"] = done[0].get("isa")
            res["distil_gflops"] = statistics.median(d["gflops"] for d in done)  # distil's own count
        row["engines"][key] = res
    row["ratios"] = ratios(row["engines"], "median_ms")
    row["min_ratios"] = ratios(row["engines"], "min_ms")
    return row


def stat_of(engines, key, stat):
    res = engines.get(key)
    return None if res is None or "error" in res else res[stat]


def ratios(engines, stat="median_ms"):
    """distil / peer (and PyTorch / ORT) of one statistic: `median_ms` or `min_ms`."""

    def ratio(num, den):
        a, b = stat_of(engines, num, stat), stat_of(engines, den, stat)
        return None if a is None or b is None else a / b

    return {
        "fill_mask_over_ort_full": ratio("distil_fill_mask", "ort_full"),
        "encoder_over_ort_encoder": ratio("distil_encoder_only", "ort_encoder"),
        "full_logits_over_ort_full": ratio("distil_full_logits", "ort_full"),
        "torch_full_over_ort_full": ratio("torch_full", "ort_full"),
        "bf16_fill_mask_over_ort_full": ratio("distil_bf16_fill_mask", "ort_full"),
        "bf16_encoder_over_ort_encoder": ratio("distil_bf16_encoder_only", "ort_encoder"),
    }


# --------------------------------------------------------------------------------------------
# Printing


def fmt_ms(engines, key):
    res = engines.get(key)
    if res is None:
        return "—"
    if "error" in res:
        return "error"
    return f"{res['median_ms']:.1f}" if res["median_ms"] >= 10 else f"{res['median_ms']:.2f}"


def fmt_ratio(value, target=None):
    if value is None:
        return "—"
    text = f"{value:.2f}"
    if target is not None:
        text += f" {'✓' if value <= target else '✗'} (≤{target})"
    return text


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(["---"] + ["--:"] * (len(headers) - 1)) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def print_header(machine, cpu, caches, ctx, meta):
    flags = cpu["flags"]
    isa = [f for f in ("avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "avx2", "fma", "f16c") if f in flags]
    print(f"# distil vs peers — {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print()
    fam = f", family {cpu.get('family', '?')} model {cpu.get('model', '?')}"
    cache = ", ".join(f"{k} {v}" for k, v in caches.items())
    print(f"- CPU: {cpu['model_name']}{fam}; {os.cpu_count()} logical CPUs; {cache}")
    print(f"- ISA flags: {' '.join(isa) or 'none of note'}; distil kernels: {meta.get('distil_isa', '?')}")
    print(f"- threads: {ctx['threads']} (distil --threads, ORT intra_op_num_threads with inter_op 1, torch.set_num_threads); "
          f"ORT spinning threads {'on (its default)' if ctx['ort_spin'] else 'off (--ort-no-spin)'}; "
          f"PyTorch OMP_WAIT_POLICY={ctx['omp_wait_policy']}")
    print(f"- timing: per shape, up to {ctx['rounds']} interleaved rounds per engine (order reversed every other round); "
          f"an engine's median is the median of its round medians")
    peak, bw = machine.get("peak_gflops", {}), machine.get("dram_read_gbs", {})
    if machine.get("error"):
        why = "" if "avx512f" in flags else "; this CPU has no AVX-512, which the script's programs are built for"
        print(f"- measure-machine.sh: FAILED ({machine['error'].strip()}{why})")
    src = machine.get("source") or "not measured"
    if peak:
        print(f"- FP32 FMA peak ({src}): " + ", ".join(f"{t} thread{'s' if t > 1 else ''} {v:.0f} GFLOP/s" for t, v in sorted(peak.items())))
    if bw:
        print(f"- DRAM read ({src}): " + ", ".join(f"{t} thread{'s' if t > 1 else ''} {v:.1f} GB/s" for t, v in sorted(bw.items())))
    if not machine:
        print("- peak and bandwidth: not measured (--skip-machine)")
    elif not peak and not bw:
        print("- peak and bandwidth: not measured (both measurements failed)")
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
    print(f"- distil {meta['git']} ({meta['distil_build']}); ONNX Runtime {v['onnxruntime']} (CPU EP, ORT_ENABLE_ALL); "
          f"PyTorch {v['torch']}; transformers {v['transformers']}")
    print(f"- model: {meta['model_dir']} (random weights, seed {ctx['seed']}, distilbert-base-cased shapes); "
          f"ONNX: {meta['exporter']}")
    chk = meta.get("ort_check", {})
    if chk:
        ok = max(chk.values()) <= 1e-3
        print(f"- ORT vs PyTorch on 1×12: max |Δ| logits {chk['logits_max_abs_diff']:.1e}, hidden {chk['hidden_max_abs_diff']:.1e} "
              f"({'within' if ok else 'NOT within'} 1e-3)")
    dchk = meta.get("distil_check", {})
    if dchk and "error" not in dchk:
        print(f"- distil fill-mask vs PyTorch (one text): top-5 ids {'match' if dchk['top_k_ids_match'] else 'DIFFER'}, "
              f"max |Δ score| {dchk['max_abs_score_diff']:.1e}")
    elif dchk:
        print(f"- distil fill-mask check failed: {dchk['error']}")
    print(f"- bf16: {meta['bf16']}")
    print()


def print_main(rows, machine, ctx, wbytes, bf16):
    engines = ENGINES + (BF16_ENGINES if bf16 else [])
    print("## Median ms per forward pass (lower is better)")
    print()
    body = []
    for r in rows:
        e = r["engines"]
        runs = sorted({v.get("runs") for v in e.values() if "runs" in v})
        body.append([f"{r['batch']}×{r['seq']}"] + [fmt_ms(e, k) for k, _ in engines] + ["/".join(map(str, runs))])
    print(table(["batch×seq"] + [h for _, h in engines] + ["runs"], body))
    print()

    print("## Ratios of medians (distil / peer, from this run; targets from issue 4)")
    print()
    print_ratios(rows, "ratios", bf16)
    print("## Ratios of minimums (the least disturbed run of each engine; on a busy machine, a check on the medians)")
    print()
    print_ratios(rows, "min_ratios", bf16)

    peak = machine.get("peak_gflops", {}).get(ctx["threads"])
    print(f"## Achieved GFLOP/s (median){f' and % of the {peak:.0f} GFLOP/s measured peak' if peak else ''}")
    print()
    body = []
    for r in rows:
        line = [f"{r['batch']}×{r['seq']}", f"{flops(r['batch'], r['seq'], r['batch'] * r['seq']) / 1e9:.1f}"]
        for key, _ in engines:
            res = r["engines"].get(key)
            if res is None or "error" in res:
                line.append("—")
            else:
                line.append(f"{res['gflops']:.0f}" + (f" ({100 * res['gflops'] / peak:.0f}%)" if peak else ""))
        body.append(line)
    print(table(["batch×seq", "GFLOP full"] + [h for _, h in engines], body))
    print()

    small = [r for r in rows if r["batch"] * r["seq"] <= 16]
    if small:
        bw = machine.get("dram_read_gbs", {}).get(ctx["threads"])
        mb_full = (wbytes["encoder"] + wbytes["head"]) / 1e6
        mb_enc = wbytes["encoder"] / 1e6
        print(f"## Weight streaming at short inputs: GB/s = fp32 weight bytes / median time "
              f"({mb_full:.0f} MB with the MLM head, {mb_enc:.0f} MB encoder only"
              f"{f'; measured DRAM read {bw:.1f} GB/s' if bw else ''})")
        print()
        body = []
        for r in small:
            line = [f"{r['batch']}×{r['seq']}"]
            for key, _ in engines:
                res = r["engines"].get(key)
                if res is None or "error" in res:
                    line.append("—")
                    continue
                b = wbytes["encoder"] + (0 if "encoder" in key else wbytes["head"])
                line.append(f"{b / (res['median_ms'] * 1e-3) / 1e9:.1f}")
            body.append(line)
        print(table(["batch×seq"] + [h for _, h in engines], body))
        print()

    print("## Spread: min – max ms")
    print()
    body = []
    for r in rows:
        line = [f"{r['batch']}×{r['seq']}"]
        for key, _ in engines:
            res = r["engines"].get(key)
            line.append("—" if res is None or "error" in res else f"{res['min_ms']:.1f} – {res['max_ms']:.1f}")
        body.append(line)
    print(table(["batch×seq"] + [h for _, h in engines], body))
    print()
    errors = [(r, k, v["error"]) for r in rows for k, v in r["engines"].items() if "error" in v]
    for r, k, err in errors:
        print(f"- {r['batch']}×{r['seq']} {k}: error: {err}")
    if errors:
        print()


def print_ratios(rows, which, bf16):
    body = []
    for r in rows:
        shape, q = (r["batch"], r["seq"]), r[which]
        line = [
            f"{r['batch']}×{r['seq']}",
            fmt_ratio(q["fill_mask_over_ort_full"], FILL_MASK_TARGETS.get(shape)),
            fmt_ratio(q["encoder_over_ort_encoder"], ENCODER_TARGETS.get(shape)),
            fmt_ratio(q["full_logits_over_ort_full"]),
            fmt_ratio(q["torch_full_over_ort_full"]),
        ]
        if bf16:
            line += [fmt_ratio(q["bf16_fill_mask_over_ort_full"], FILL_MASK_TARGETS.get(shape)),
                     fmt_ratio(q["bf16_encoder_over_ort_encoder"], ENCODER_TARGETS.get(shape))]
        body.append(line)
    heads = ["batch×seq", "fill-mask / ORT full", "encoder-only / ORT encoder", "full-logits / ORT full (like for like)", "PyTorch / ORT full"]
    if bf16:
        heads += ["bf16 fill-mask / ORT full", "bf16 encoder / ORT encoder"]
    print(table(heads, body))
    print()


def print_scaling(rows, machine, ctx):
    peak = machine.get("peak_gflops", {}).get(ctx["threads"])
    print("## Scaling: batch 1 over sequence length, then sequence 128 over batch size (median ms)")
    print()
    body = []
    for r in rows:
        e, q, m = r["engines"], r["ratios"], r["min_ratios"]

        def gf(key):
            res = e.get(key)
            if res is None or "error" in res:
                return "—"
            return f"{res['gflops']:.0f}" + (f" ({100 * res['gflops'] / peak:.0f}%)" if peak else "")

        body.append([
            f"{r['batch']}×{r['seq']}", str(r["batch"] * r["seq"]),
            fmt_ms(e, "ort_full"), fmt_ms(e, "distil_fill_mask"), fmt_ratio(q["fill_mask_over_ort_full"]),
            fmt_ratio(m["fill_mask_over_ort_full"]),
            fmt_ms(e, "ort_encoder"), fmt_ms(e, "distil_encoder_only"), fmt_ratio(q["encoder_over_ort_encoder"]),
            fmt_ratio(m["encoder_over_ort_encoder"]),
            gf("ort_encoder"), gf("distil_encoder_only"),
        ])
    print(table(["batch×seq", "tokens", "ORT full", "distil fill-mask", "ratio", "ratio of mins", "ORT encoder", "distil encoder-only",
                 "ratio", "ratio of mins",
                 "ORT encoder GFLOP/s", "distil encoder GFLOP/s"], body))
    print()


# --------------------------------------------------------------------------------------------


def parse_shapes(text):
    shapes = []
    for part in text.split(","):
        b, _, s = part.strip().lower().partition("x")
        shapes.append((int(b), int(s)))
    return shapes


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
    ap.add_argument("--scaling", action="store_true", help="also time seq 12…512 at batch 1 and batch 1…32 at seq 128 (slow)")
    ap.add_argument("--scaling-only", action="store_true", help="only the scaling table")
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the random checkpoint and its ONNX exports")
    ap.add_argument("--distil", type=Path, help="a distil binary to use instead of building target/release/distil")
    ap.add_argument("--no-build", action="store_true", help="use target/release/distil as it is")
    ap.add_argument("--skip-machine", action="store_true", help="do not measure the peak and the bandwidth")
    ap.add_argument("--rounds", type=int, default=4, help="split each engine's runs into this many interleaved rounds (default 4)")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds of idle between engines (default 0.5)")
    ap.add_argument("--torch-omp-wait-policy", choices=["passive", "active", "unset"], default="passive",
                    help="OMP_WAIT_POLICY for PyTorch (default passive: libgomp's spinning collapses on a shared machine)")
    ap.add_argument("--ort-no-spin", action="store_true", help="ONNX Runtime without spinning threads (default: its default, spinning)")
    ap.add_argument("--json", type=Path, help="also write every number to this JSON file")
    args = ap.parse_args()
    if args.runs_large is None:
        args.runs_large = max(5, args.runs // 2)
    # Before torch (and its OpenMP runtime) is loaded.
    if args.torch_omp_wait_policy != "unset":
        os.environ["OMP_WAIT_POLICY"] = args.torch_omp_wait_policy.upper()
    started = time.perf_counter()
    meta = {"load_start": load_average(), "model_dir": os.path.relpath(args.model_dir, ROOT)}

    cpu, caches = read_cpuinfo(), cache_sizes()
    machine = {} if args.skip_machine else measure_machine(args.threads)

    built = ensure_model_dir(args.model_dir, args.seed, args.rebuild)
    meta["exporter"] = built.get("onnx_exporters", {}).get("model.onnx", "?")

    if args.distil:
        binary, meta["distil_build"] = args.distil.resolve(), f"--distil {args.distil}"
    elif args.no_build:
        binary, meta["distil_build"] = ROOT / "target" / "release" / "distil", "existing target/release/distil"
    else:
        binary, meta["distil_build"] = build_distil()
    meta["git"] = git_describe()

    peers = Peers(args.model_dir, args.threads, ort_spin=not args.ort_no_spin)
    meta["versions"] = peers.versions
    meta["ort_check"] = peers.check(args.seed)
    if max(meta["ort_check"].values()) > 1e-3:
        log(f"warning: ONNX Runtime and PyTorch differ by more than 1e-3: {meta['ort_check']}")
    meta["distil_check"] = check_distil(binary, args.model_dir, peers)
    wbytes = weight_bytes(peers.model)

    probe = run_distil(binary, args.model_dir, [], 1, 12, args.threads, 1, 1)
    if "error" in probe:
        sys.exit(f"distil bench does not run: {probe['error']}")
    meta["distil_isa"] = probe.get("isa", "?")
    bf16_probe = run_distil(binary, args.model_dir, [], 1, 12, args.threads, 1, 1, dtype="bf16")
    bf16 = "error" not in bf16_probe
    meta["bf16"] = "accepted: distil bf16 columns included" if bf16 else f"`--dtype bf16` not accepted ({bf16_probe['error']})"

    ctx = {"binary": binary, "model_dir": args.model_dir, "threads": args.threads, "runs": args.runs,
           "runs_large": args.runs_large, "seed": args.seed, "peers": peers, "pause": args.pause, "rounds": args.rounds,
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"), "ort_spin": not args.ort_no_spin}
    engines = [k for k, _ in ENGINES] + ([k for k, _ in BF16_ENGINES] if bf16 else [])
    # distil first, then the peers: each in its own quiet stretch of the run.
    order = [k for k in engines if k.startswith("distil_")] + [k for k in engines if not k.startswith("distil_")]

    rows, scaling = [], []
    if not args.scaling_only:
        for batch, seq in parse_shapes(args.shapes):
            log(f"shape {batch}x{seq}")
            rows.append(measure_shape(batch, seq, order, ctx))
    if args.scaling or args.scaling_only:
        shapes = [(1, s) for s in SCALING_SEQS] + [(b, 128) for b in SCALING_BATCHES if b != 1]
        scale_engines = ["distil_fill_mask", "distil_encoder_only", "ort_full", "ort_encoder"]
        for batch, seq in shapes:
            log(f"scaling {batch}x{seq}")
            scaling.append(measure_shape(batch, seq, scale_engines, ctx))

    meta["load_end"] = load_average()
    meta["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_header(machine, cpu, caches, ctx, meta)
    if rows:
        print_main(rows, machine, ctx, wbytes, bf16)
    if scaling:
        print_scaling(scaling, machine, ctx)
    print(f"(whole run: {meta['elapsed_s']:.0f} s)")

    if args.json:
        doc = {
            "meta": {**meta, "distil_binary": str(binary)},
            "machine": {
                "cpu": cpu["model_name"], "family": cpu.get("family"), "model": cpu.get("model"), "caches": caches,
                "flags": sorted(f for f in cpu["flags"] if f.startswith(("avx", "fma", "f16c", "amx"))),
                "measurement": {k: v for k, v in machine.items()},
            },
            "threads": args.threads,
            "weight_bytes": wbytes,
            "targets": {
                "fill_mask_over_ort_full": {f"{b}x{s}": t for (b, s), t in FILL_MASK_TARGETS.items()},
                "encoder_over_ort_encoder": {f"{b}x{s}": t for (b, s), t in ENCODER_TARGETS.items()},
            },
            "shapes": rows,
            "scaling": scaling,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1, default=str) + "\n")
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
