"""Writes the fuzz corpus's seeds: every JSON request body written as a raw string literal in the
request readers' unit tests and in cli/tests/server.rs, one file each (named by content hash, as
libFuzzer names its own), into corpus/requests/."""
import hashlib
import re
from pathlib import Path

here = Path(__file__).resolve().parent
sources = sorted((here.parent / "src/server/requests").glob("*.rs")) + [here.parent / "tests/server.rs"]
corpus = here / "corpus/requests"
corpus.mkdir(parents=True, exist_ok=True)
seen = 0
for source in sources:
    for body in re.findall(r'b?r#"(.*?)"#', source.read_text(), flags=re.S):
        if not body.lstrip().startswith(("{", "[")):
            continue
        data = body.encode()
        (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
        seen += 1
print(f"{seen} seeds from {len(sources)} files; {len(list(corpus.iterdir()))} files in {corpus}")
