"""Embeds a JSON-lines corpus with distil on Ray Data and writes the vectors as Parquet.

Each actor of the pool loads one distil.Engine (the weights are mapped, so the actors of a machine
share one copy in the page cache) and embeds the batches Ray hands it; the GIL is released while
it computes. Every input column is kept, and the vectors are added as `embedding`, a
fixed_size_list<float32> column that any Parquet reader understands.

    python python/examples/ray_embed.py --model weights/all-MiniLM-L6-v2 \\
        --input corpus.jsonl --output embeddings/ --actors 2 --num-cpus 1 --batch-size 256

Connects to the Ray cluster of RAY_ADDRESS when there is one, else starts a local one with
--cluster-cpus CPUs.
"""

import argparse
import json
import time

import pyarrow as pa
import ray

import distil
import engine_pool


class Embedder:
    """A Ray Data callable class: one engine per actor, one call per batch."""

    def __init__(self, model: str, threads: int, column: str):
        self.engine = distil.Engine(model, threads=threads)
        self.column = column

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = batch.column(self.column).to_pylist()
        vectors = self.engine.embed(texts)  # float32 (rows, dim), no copy out of distil
        dim = vectors.shape[1]
        # Arrow takes the contiguous NumPy buffer as it is.
        values = pa.array(vectors.reshape(-1))
        column = pa.FixedSizeListArray.from_arrays(values, dim)
        return batch.append_column("embedding", column)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, nargs="+", help="JSON-lines files")
    parser.add_argument("--output", required=True, help="a directory for the Parquet files")
    parser.add_argument("--column", default="text", help="the column to embed")
    engine_pool.add_arguments(parser, batch_size=256)
    args = parser.parse_args()

    engine_pool.start_ray(args)
    start = time.perf_counter()
    # Reading and writing take no CPU of their own: the actors hold the CPUs, and a stage
    # waiting for one they hold would wait for ever.
    # (A file is read by one task; its rows are split into blocks for every actor to get some.)
    ds = ray.data.read_json(
        args.input,
        lines=True,
        num_cpus=0,
        override_num_blocks=4 * args.actors,
    )
    ds = engine_pool.map_with_engines(ds, Embedder, args, column=args.column)
    ds.write_parquet(args.output, ray_remote_args={"num_cpus": 0})
    seconds = time.perf_counter() - start
    rows = ray.data.read_parquet(args.output).count()
    print(json.dumps({"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}))


if __name__ == "__main__":
    main()
