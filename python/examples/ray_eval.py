"""Evaluates fill-mask on a mask-filling dataset with distil on Ray Data: `distil eval`, spread.

The dataset is JSON lines (rcds/wikipedia-for-mask-filling's layout, or Azure ML's), plain or
.xz, as `distil eval --data` reads it. The driver reads its lines; they go to a pool of actors, each with one
distil.Engine, which score their batches into parts (counts, and the sum of -ln p in fixed point);
the driver adds the parts up with distil.eval_summary into the summary `distil eval --json`
prints, figure for figure, whatever the split.

    python python/examples/ray_eval.py --model distilbert-base-cased --data rows.jsonl.xz \\
        --actors 2 --num-cpus 1 --batch-size 64

Connects to the Ray cluster of RAY_ADDRESS when there is one, else starts a local one with
--cluster-cpus CPUs.
"""

import argparse
import json
import lzma
import time

import pyarrow as pa
import ray

import distil
import engine_pool


def numbered_lines(path: str) -> list:
    """The file's lines, numbered from 1 as `distil eval` numbers them (blank ones included),
    as bytes: a line that is not UTF-8 is the engine's to skip, as `distil eval` skips it."""
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rb") as file:
        return [
            {"number": n, "line": line.rstrip(b"\n")} for n, line in enumerate(file, start=1)
        ]


class Evaluator:
    """A Ray Data callable class: one engine per actor; each batch of lines becomes one part."""

    def __init__(self, model: str, threads: int, top_k: int):
        self.engine = distil.Engine(model, threads=threads)
        self.top_k = top_k

    def __call__(self, batch: pa.Table) -> pa.Table:
        part = self.engine.evaluate(
            batch.column("line").to_pylist(),
            top_k=self.top_k,
            line_numbers=batch.column("number").to_pylist(),
        )
        return pa.table({"part": [json.dumps(part)]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the dataset, JSON lines, plain or .xz")
    parser.add_argument("--top-k", type=int, default=5, help="k of top-k accuracy")
    engine_pool.add_arguments(parser, batch_size=64)
    args = parser.parse_args()

    engine_pool.start_ray(args)
    start = time.perf_counter()
    # The driver reads the lines and hands them out in blocks of a batch, so that every actor of
    # the pool gets its share (a file read by a Ray task would come as one block, to one actor).
    lines = numbered_lines(args.data)
    blocks = max(1, -(-len(lines) // args.batch_size))
    ds = ray.data.from_items(lines, override_num_blocks=blocks)
    ds = engine_pool.map_with_engines(ds, Evaluator, args, top_k=args.top_k)
    parts = [json.loads(row["part"]) for row in ds.iter_rows()]
    summary = distil.eval_summary(parts, seconds=time.perf_counter() - start)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
