"""The Ray Data examples, run as the README runs them on a local cluster of 2 CPUs: the
embeddings equal `distil embed`'s, bit for bit, and the evaluation's summary equals
`distil eval --json`'s, figure for figure."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, cli, cli_json_lines, minilm, model

if not os.environ.get("CI"):
    pytest.importorskip("ray")
import pyarrow.parquet as pq  # noqa: E402 (Ray Data brings pyarrow)

EXAMPLES = ROOT / "python" / "examples"


def run_example(name: str, *args: str) -> str:
    """Runs an example on a local Ray cluster of 2 CPUs; its standard output."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args, "--cluster-cpus", "2"],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "RAY_ADDRESS": ""},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.strip().splitlines()[-1]


def test_ray_embed_equals_distil_embed(tmp_path):
    path = minilm()
    texts = [f"Sentence {i} is about {'cats' if i % 3 else 'the weather in Paris'}." for i in range(150)]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "embeddings"
    report = json.loads(run_example("ray_embed.py", "--model", path, "--input", str(corpus),
                                    "--output", str(out), "--actors", "2", "--batch-size", "16"))
    assert report["rows"] == len(texts)
    table = pq.read_table(out).sort_by("id")
    assert table.column("id").to_pylist() == list(range(len(texts)))
    assert table.column("text").to_pylist() == texts
    vectors = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    assert vectors.dtype == np.float32 and vectors.shape == (len(texts), 384)
    expected = np.array(cli_json_lines("embed", "--model", path, stdin="\n".join(texts)))
    assert np.array_equal(vectors, expected.astype(np.float32))


@pytest.mark.parametrize("name", ["rows.jsonl.xz", "malformed.jsonl"])
def test_ray_eval_equals_distil_eval(name):
    data = str(ROOT / "tests" / "fixtures" / "eval" / name)
    summary = json.loads(run_example("ray_eval.py", "--model", model("distilbert-cased"),
                                      "--data", data, "--actors", "2", "--batch-size", "4"))
    out = cli("eval", "--model", model("distilbert-cased"), "--data", data, "--json")
    expected = json.loads(out.stdout)
    timing = ("seconds", "rows_per_second", "masks_per_second")
    for key in timing:
        summary.pop(key), expected.pop(key)
    assert expected["rows"] > 0
    assert summary == expected
