"""distil on Ray Data against one Python process, and what the actors hold in memory.

Embeds a corpus (all-MiniLM-L6-v2) and evaluates a mask-filling dataset (distilbert-base-cased's
shape) three ways, interleaved over --rounds, and prints the medians and their ratios:

- one process: `distil.Engine(threads=cpus)`, batches of --batch-size, no Ray;
- Ray Data, one actor with all the CPUs (`--actors 1 --num-cpus cpus`);
- Ray Data, one actor per CPU (`--actors cpus --num-cpus 1`).

Each Ray run is the example (python/examples/ray_*.py) as a user runs it, its time from the
dataset's creation to the last answer (actors started and models loaded included; not
`ray.init`). The single process's time includes loading its engine too.

While the one-actor-per-CPU runs go, the actors' memory is sampled from /proc (smaps_rollup,
all actors at once, the sample where they hold the most together): RSS, its proportional share (PSS, pages shared by n processes counted 1/n each)
and the file-backed part, and the same of the weights' mapping alone (`weights_Rss`,
`weights_Pss`): the weights are mapped, so the actors share one copy in the page cache.

    python python/benches/ray_scaling.py --embed-model weights/all-MiniLM-L6-v2 \\
        --eval-model weights/distilbert-base-random --data tests/fixtures/eval/rows.jsonl
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import distil

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Shared_Clean")
WEIGHTS = ("weights_Rss", "weights_Pss")


def weights_mapping(pid: str) -> dict:
    """RSS and PSS (kB) of the process's mappings of a model.safetensors: the weights in place."""
    found = dict.fromkeys(WEIGHTS, 0)
    inside = False
    try:
        smaps = Path(f"/proc/{pid}/smaps").read_text()
    except OSError:
        return found
    for line in smaps.splitlines():
        first = line.split(maxsplit=1)[0]
        if "-" in first and not first.endswith(":"):  # a mapping's header line
            inside = line.rstrip().endswith("model.safetensors")
        elif inside and first in ("Rss:", "Pss:"):
            found["weights_" + first[:-1]] += int(line.split()[1])
    return found


def actor_memory(stop: threading.Event, peaks: dict) -> None:
    """Samples every Ray Data actor's smaps_rollup and weights mapping (kB) every 0.1 s, all at
    once; keeps the sample where they held the most together (so that shared pages are counted
    as the actors shared them at one moment)."""
    best = 0
    while not stop.is_set():
        sample = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if not cmdline.startswith(b"ray::MapWorker"):
                    continue
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            fields = dict.fromkeys(FIELDS, 0)
            for line in rollup.splitlines():
                name, _, rest = line.partition(":")
                if name in FIELDS:
                    fields[name] = int(rest.split()[0])
            fields.update(weights_mapping(pid))
            sample[pid] = fields
        total = sum(fields["Rss"] for fields in sample.values())
        if total > best:
            best = total
            peaks.clear()
            peaks.update(sample)
        time.sleep(0.1)


def run_example(name: str, args: list, cpus: int, sample: bool) -> tuple:
    """Runs an example on a local cluster of `cpus` CPUs: its JSON report and the actors' peaks."""
    stop, peaks = threading.Event(), {}
    sampler = threading.Thread(target=actor_memory, args=(stop, peaks))
    if sample:
        sampler.start()
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args, "--cluster-cpus", str(cpus)],
        capture_output=True, text=True, check=True, env={**os.environ, "RAY_ADDRESS": ""},
    )
    stop.set()
    if sample:
        sampler.join()
    return json.loads(done.stdout.strip().splitlines()[-1]), peaks


def embed_alone(model: str, texts: list, threads: int, batch: int) -> float:
    start = time.perf_counter()
    engine = distil.Engine(model, threads=threads)
    for i in range(0, len(texts), batch):
        engine.embed(texts[i : i + batch])
    return time.perf_counter() - start


def eval_alone(model: str, lines: list, threads: int, batch: int) -> float:
    start = time.perf_counter()
    engine = distil.Engine(model, threads=threads)
    numbers = list(range(1, len(lines) + 1))
    parts = [
        engine.evaluate(lines[i : i + batch], line_numbers=numbers[i : i + batch])
        for i in range(0, len(lines), batch)
    ]
    distil.eval_summary(parts)
    return time.perf_counter() - start


def report(name: str, unit: str, count: int, times: dict) -> None:
    alone = statistics.median(times["one process"])
    print(f"\n{name}: {count} {unit}, medians of {len(times['one process'])} rounds")
    for way, seconds in times.items():
        median = statistics.median(seconds)
        print(f"  {way:<28} {median:7.2f} s  {count / median:8.1f} {unit}/s  "
              f"{alone / median:5.2f}× one process")


def print_memory(peaks: dict, weights: Path) -> None:
    size = weights.stat().st_size
    print(f"  the actors' memory at its peak together (MB; the weights file is {size / 1e6:.0f} MB):")
    for pid, fields in sorted(peaks.items()):
        cells = "  ".join(f"{k} {v / 1000:7.1f}" for k, v in fields.items())
        print(f"    pid {pid}: {cells}")
    if peaks:
        total = {k: sum(p[k] for p in peaks.values()) / 1000 for k in FIELDS + WEIGHTS}
        print("    together: " + "  ".join(f"{k} {v:7.1f}" for k, v in total.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embed-model", required=True)
    parser.add_argument("--eval-model", required=True)
    parser.add_argument("--data", required=True, help="a mask-filling dataset (JSON lines)")
    parser.add_argument("--repeat", type=int, default=1, help="the dataset's lines, this many times")
    parser.add_argument("--texts", type=int, default=20000, help="texts to embed")
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cpus = args.cpus
    model_name = [line for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")][:1]
    print(f"{cpus} CPUs: {model_name[0].split(':', 1)[1].strip() if model_name else '?'}; "
          f"load average {os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        texts = [
            f"Sentence {i}: the {['weather', 'market', 'river', 'film'][i % 4]} in town number "
            f"{i % 97} was {['fine', 'grim', 'wild'][i % 3]} on day {i % 365} of the long year."
            for i in range(args.texts)
        ]
        corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                                  for i, t in enumerate(texts)))
        data = Path(tmp) / "data.jsonl"
        lines = Path(args.data).read_bytes().rstrip(b"\n").split(b"\n") * args.repeat
        data.write_bytes(b"\n".join(lines) + b"\n")

        embed_times = {"one process": [], "Ray, 1 actor × %d CPUs" % cpus: [],
                       "Ray, %d actors × 1 CPU" % cpus: []}
        eval_times = {k: [] for k in embed_times}
        embed_peaks, eval_peaks = {}, {}
        for r in range(args.rounds):
            embed_times["one process"].append(embed_alone(args.embed_model, texts, cpus, 256))
            eval_times["one process"].append(eval_alone(args.eval_model, lines, cpus, 16))
            for actors, per in ((1, cpus), (cpus, 1)):
                key = (f"Ray, 1 actor × {cpus} CPUs" if actors == 1
                       else f"Ray, {cpus} actors × 1 CPU")
                out = Path(tmp) / f"out-{r}-{actors}"
                got, peaks = run_example(
                    "ray_embed.py",
                    ["--model", args.embed_model, "--input", str(corpus), "--output", str(out),
                     "--actors", str(actors), "--num-cpus", str(per), "--batch-size", "256"],
                    cpus, sample=actors > 1)
                embed_times[key].append(got["seconds"])
                embed_peaks = peaks or embed_peaks
                got, peaks = run_example(
                    "ray_eval.py",
                    ["--model", args.eval_model, "--data", str(data), "--actors", str(actors),
                     "--num-cpus", str(per), "--batch-size", "8"],
                    cpus, sample=actors > 1)
                eval_times[key].append(got["seconds"])
                eval_peaks = peaks or eval_peaks
        report("embed (all-MiniLM-L6-v2)", "texts", len(texts), embed_times)
        print_memory(embed_peaks, Path(args.embed_model) / "model.safetensors")
        report("eval (fill-mask scored)", "rows", len(lines), eval_times)
        print_memory(eval_peaks, Path(args.eval_model) / "model.safetensors")


if __name__ == "__main__":
    main()
