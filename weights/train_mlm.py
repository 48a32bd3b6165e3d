"""Train a small real masked language model on text found on this machine (issue 14).

Random weights have no meaningful top-1, so fill-mask accuracy under reduced precision
(`--dtype bf16`, `--dtype int8`) needs a model that has learned something. This script makes one in
about half an hour of CPU, from nothing but the machine's own text:

- Corpus: the English man pages (`/usr/share/man/man1..8`, rendered with `man -P cat`, one
  document per page; symlinks, `.so` redirects and the ~16,600 auto-generated `gcloud*` pages are
  left out) and the docstrings and comments of Python's standard library (`/usr/lib/python3.X`,
  one document per module, test suites left out). Files are taken in sorted order; a seeded shuffle
  holds out 5% of the documents for evaluation.
- Tokenizer: a cased WordPiece vocabulary (~8000) trained on the training documents with the
  `tokenizers` library, written as `vocab.txt` with `tokenizer_config.json` (`do_lower_case: false`).
- Model: `DistilBertForMaskedLM`, dim 256, 2 layers, 4 heads, hidden 1024, 512 positions
  (3.8 M parameters), trained with BERT's MLM objective (80% of the targets `[MASK]`, 10% a random
  token, 10% kept) on packed 128-token sequences, AdamW, for a fixed time budget (25 minutes by
  default) on 2 threads; the learning rate warms up and decays linearly over the budget's wall time.
  The position embeddings start from DistilBERT's sinusoids (scaled to the word embeddings' size,
  then trained as usual; `sinusoidal_pos_embds` stays false).

  Why 2 layers and 40% of the pieces as targets (`--mask-rate`, BERT's 15% also works): 25 minutes
  are few word pieces (2.5 M on 2 cores shared with a build), and a first run of the textbook
  recipe (4 layers, 15%, 1,221 steps of 16x128) was still at the unigram plateau when it ended:
  training loss 5.93, held-out top-1 2.2% (it predicted "the", ".", "-" everywhere). In probes at
  equal wall time, 2 layers (twice the steps) and 40% targets (2.7x the predictions per pass; Wettig
  et al. 2023, "Should You Mask 15% in Masked Language Modeling?") each lowered the held-out loss
  (measured with 15% masking) by 0.2, more than any learning-rate or batch change did.
- Evaluation: `heldout.jsonl`, ~500 rows in the layout of `rcds/wikipedia-for-mask-filling`
  (`{"texts": "... <mask> ...", "masks": ["word"]}`) cut from the held-out documents: a sentence or
  a few, 1-2 masked whole words that are single tokens of the vocabulary. The script scores them with
  transformers in fp32 as `distil eval` does (one forward pass with all masks of a row; the gold
  token is the first word piece of the true span; rank by logit; perplexity = exp(mean -log p)) and
  writes the figures to `training.json`.

Reproducibility: file order, split, masking and initialisation are seeded, but a time budget buys
as many steps as the machine gives it (on 2 idle cores ~5 steps/s, on cores shared with a build a
fifth of that): `--steps N` trains exactly N steps instead (~7000 fill 25 idle minutes). vocab.txt
can also differ by a token or two between runs: `tokenizers` breaks ties between equally frequent
merges in hash order (the alphabet and the ids are made deterministic here).

Run from the repository root with the reference environment (takes ~30 minutes):

    .venv-ref/bin/python weights/train_mlm.py

then, e.g.:

    ./target/release/distil eval --model weights/distilbert-mlm-small \
        --data weights/distilbert-mlm-small/heldout.jsonl --threads 2
"""

import argparse
import ast
import collections
import gzip
import hashlib
import io
import json
import math
import os
import random
import re
import subprocess
import sys
import sysconfig
import time
import tokenize as pytokenize
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from tokenizers import BertWordPieceTokenizer
from transformers import DistilBertConfig, DistilBertForMaskedLM, DistilBertTokenizerFast

HERE = Path(__file__).resolve().parent
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SEED = 20260514
SEQ = 128


# ----------------------------------------------------------------------------------------------
# Corpus


def man_pages(root):
    """The English man pages to render: regular files of man1..man8, sorted, without redirects."""
    out = []
    for section in range(1, 9):
        d = Path(root) / f"man{section}"
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if f.is_symlink() or not f.is_file() or f.name.startswith("gcloud"):
                continue
            try:
                head = gzip.open(f).read(64) if f.suffix == ".gz" else f.read_bytes()[:64]
            except OSError:
                continue
            if head.lstrip().startswith(b".so "):  # a redirect to another page
                continue
            out.append(f)
    return out


def render_man(path):
    """A man page as plain text: one paragraph per line (MANWIDTH wide enough never to wrap)."""
    env = dict(os.environ, MANWIDTH="4000", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="", MANPAGER="cat")
    try:
        raw = subprocess.run(["man", "-P", "cat", "-l", str(path)], env=env, capture_output=True,
                             timeout=60).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return ""
    raw = re.sub(r".\x08", "", raw)  # overstrike, should any be left
    lines = [l.strip() for l in raw.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    lines = lines[1:-1]  # the page header ("LS(1) ... LS(1)") and footer
    text = "\n".join(re.sub(r"[ \t]{2,}", " ", l) for l in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def python_sources():
    lib = Path(sysconfig.get_paths()["stdlib"])
    system = sorted(Path("/usr/lib").glob("python3.*"))
    if system:  # the system's Python, if any, for a corpus that does not depend on the venv
        lib = system[-1]
    skip = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
    out = []
    for dirpath, dirnames, filenames in os.walk(lib):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        out += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py")]
    return lib, out


def python_text(path):
    """A module's docstrings and comments, one paragraph each, in source order."""
    try:
        src = path.read_text("utf-8")
        tree = ast.parse(src)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return ""
    parts = []  # (line, text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                parts.append((getattr(node, "lineno", 0), doc))
    try:
        block, start, last = [], 0, -2
        for tok in pytokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type != pytokenize.COMMENT:
                continue
            line = tok.start[0]
            body = tok.string.lstrip("#").strip()
            if line != last + 1 and block:
                parts.append((start, " ".join(block)))
                block = []
            if not block:
                start = line
            if body and not body.startswith("!") and not re.fullmatch(r"[-=*#~_ ]+", body):
                block.append(body)
            last = line
        if block:
            parts.append((start, " ".join(block)))
    except (pytokenize.TokenError, SyntaxError, IndentationError):
        pass
    parts.sort(key=lambda p: p[0])
    paras = []
    for _, t in parts:
        # docstrings: paragraphs split on blank lines, lines within a paragraph joined
        for p in re.split(r"\n\s*\n", t):
            p = " ".join(l.strip() for l in p.splitlines() if l.strip())
            if len(p) >= 20 and re.search(r"[A-Za-z]{3}", p):
                paras.append(p)
    return "\n".join(paras)


def build_corpus(cache):
    if cache.exists():
        with gzip.open(cache, "rt") as f:
            docs = [json.loads(l) for l in f]
        print(f"corpus: {len(docs)} documents from {cache}", flush=True)
        return docs
    t0 = time.time()
    pages = man_pages("/usr/share/man")
    print(f"corpus: rendering {len(pages)} man pages ...", flush=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(render_man, pages))
    docs, seen = [], set()
    for p, t in zip(pages, texts):
        docs.append({"source": f"man:{p.parent.name}/{p.name}", "text": t})
    lib, sources = python_sources()
    print(f"corpus: {len(pages)} man pages in {time.time() - t0:.0f} s; "
          f"reading {len(sources)} modules of {lib}", flush=True)
    for p in sources:
        docs.append({"source": f"py:{p.relative_to(lib)}", "text": python_text(p)})
    out = []
    for d in docs:
        h = hashlib.sha1(d["text"].encode()).digest()
        if len(d["text"]) < 200 or h in seen:
            continue
        seen.add(h)
        out.append(d)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(cache, "wt") as f:
        for d in out:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    print(f"corpus: {len(out)} documents ({sum(len(d['text']) for d in out) / 1e6:.1f} M chars) "
          f"in {time.time() - t0:.0f} s, cached in {cache}", flush=True)
    return out


# ----------------------------------------------------------------------------------------------
# Tokenizer


def train_tokenizer(train_docs, out_dir, vocab_size):
    tok = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                 lowercase=False)
    # The alphabet is chosen here, not by the trainer's `limit_alphabet` alone, which breaks ties
    # between equally rare characters in hash order (a different vocab.txt on each run): the 300
    # most frequent characters, ties by code point, forced in, and the limit keeps exactly them.
    chars = collections.Counter()
    for d in train_docs:
        chars.update(d["text"])
    alphabet = [c for c, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))
                if not c.isspace() and c.isprintable()][:300]
    tok.train_from_iterator((d["text"] for d in train_docs), vocab_size=vocab_size, min_frequency=2,
                            limit_alphabet=len(alphabet), initial_alphabet=alphabet,
                            special_tokens=SPECIALS, wordpieces_prefix="##", show_progress=False)
    tok.save_model(str(out_dir))
    # The trainer also lists the "##" forms of the alphabet in hash order; WordPiece only needs the
    # set, so the ids are made canonical: the special tokens, then words, then "##" pieces, sorted.
    vocab = (out_dir / "vocab.txt").read_text("utf-8").splitlines()
    assert vocab[: len(SPECIALS)] == SPECIALS, vocab[:8]
    rest = sorted(vocab[len(SPECIALS):], key=lambda t: (t.startswith("##"), t))
    (out_dir / "vocab.txt").write_text("\n".join(SPECIALS + rest) + "\n", "utf-8")
    config = {
        "tokenizer_class": "DistilBertTokenizer",
        "do_lower_case": False,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "model_max_length": 512,
        "clean_up_tokenization_spaces": False,
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n")
    specials = {k: config[k] for k in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(specials, indent=1) + "\n")
    return load_tokenizer(out_dir)


def load_tokenizer(out_dir):
    return DistilBertTokenizerFast(vocab=str(out_dir / "vocab.txt"), do_lower_case=False,
                                   strip_accents=None, tokenize_chinese_chars=True)


# ----------------------------------------------------------------------------------------------
# Held-out fill-mask rows


SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
WORD = re.compile(r"[A-Za-z]+")
BEFORE_OK = set(" (\"'`")
AFTER_OK = set(" ,.;:)!?\"'")


def candidate_texts(doc, tok):
    """Prose-like runs of 1-3 sentences from one document's paragraphs."""
    out = []
    for para in doc["text"].split("\n"):
        sents = [s.strip() for s in SENT_SPLIT.split(para.strip()) if s.strip()]
        i = 0
        while i < len(sents):
            n = 1
            text = sents[i]
            while n < 3 and i + n < len(sents) and len(text.split()) < 14:
                text += " " + sents[i + n]
                n += 1
            i += n
            words = text.split()
            if not (8 <= len(words) <= 60) or text[-1] not in ".!?" or not text[0].isupper():
                continue
            if "<mask>" in text or "[" in text or "]" in text:
                continue
            if sum(bool(re.fullmatch(r"[A-Za-z][a-z]*[,.;:]?", w)) for w in words) < 0.75 * len(words):
                continue
            if len(tok(text, add_special_tokens=False)["input_ids"]) > 100:
                continue
            out.append(text)
    return out


def maskable(text, vocab):
    """(start, end) of the words that may be masked: whole words, single tokens of the vocabulary."""
    spans = []
    for m in WORD.finditer(text):
        s, e = m.span()
        w = m.group()
        if s > 0 and text[s - 1] not in BEFORE_OK or e < len(text) and text[e] not in AFTER_OK:
            continue
        if (len(w) >= 2 or w in ("a", "A", "I")) and w in vocab:
            spans.append((s, e))
    return spans


def make_heldout(held_docs, tok, n_rows, rng):
    vocab = tok.get_vocab()
    per_doc = []
    for d in held_docs:
        c = candidate_texts(d, tok)
        rng.shuffle(c)
        per_doc.append(c[:6])  # at most 6 texts from a page or module, for variety
    pool = [t for c in per_doc for t in c]
    rng.shuffle(pool)
    rows = []
    for text in pool:
        spans = maskable(text, vocab)
        if not spans:
            continue
        k = min(len(spans), rng.choice([1, 2]))
        chosen = sorted(rng.sample(spans, k))
        masked, golds, last = [], [], 0
        for s, e in chosen:
            masked.append(text[last:s] + "<mask>")
            golds.append(text[s:e])
            last = e
        masked.append(text[last:])
        rows.append({"texts": "".join(masked), "masks": golds})
        if len(rows) == n_rows:
            break
    return rows


def score_rows(rows, tok, model):
    """Fill-mask as distil eval does: one pass per row, all masks at once, gold = first piece."""
    mask_id = tok.mask_token_id
    nll, n, top1, top5 = 0.0, 0, 0, 0
    model.eval()
    with torch.no_grad():
        for row in rows:
            text = row["texts"].replace("<mask>", "[MASK]")
            ids = tok(text)["input_ids"]
            positions = [i for i, t in enumerate(ids) if t == mask_id]
            assert len(positions) == len(row["masks"]), row
            logits = model(input_ids=torch.tensor([ids])).logits[0]
            for pos, gold in zip(positions, row["masks"]):
                g = tok(gold, add_special_tokens=False)["input_ids"][0]
                lg = logits[pos]
                logp = torch.log_softmax(lg.double(), dim=-1)
                # rank: tokens with a higher logit, ties to the lower id
                rank = int((lg > lg[g]).sum()) + int((lg[:g] == lg[g]).sum())
                n += 1
                top1 += rank == 0
                top5 += rank < 5
                nll -= float(logp[g])
    return {"masks": n, "top1_accuracy": top1 / n, "top5_accuracy": top5 / n,
            "perplexity": math.exp(nll / n)}


# ----------------------------------------------------------------------------------------------
# Training


def pack(docs, tok):
    """Documents' word pieces, [SEP]-separated, cut into [CLS] + 126 pieces + [SEP] blocks."""
    stream = []
    for d in docs:
        stream += tok(d["text"], add_special_tokens=False)["input_ids"]
        stream.append(tok.sep_token_id)
    body = SEQ - 2
    n = len(stream) // body
    blocks = torch.tensor(stream[: n * body], dtype=torch.long).view(n, body)
    cls = torch.full((n, 1), tok.cls_token_id, dtype=torch.long)
    sep = torch.full((n, 1), tok.sep_token_id, dtype=torch.long)
    return torch.cat([cls, blocks, sep], dim=1), len(stream)


def mask_batch(ids, tok, vocab_size, gen, p=0.15):
    """BERT's masking: p of the non-special pieces are targets; 80% [MASK], 10% random, 10% kept."""
    ids = ids.clone()
    special = ids < len(SPECIALS)
    target = (torch.rand(ids.shape, generator=gen) < p) & ~special
    labels = torch.where(target, ids, torch.full_like(ids, -100))
    r = torch.rand(ids.shape, generator=gen)
    ids[target & (r < 0.8)] = tok.mask_token_id
    rand = target & (r >= 0.8) & (r < 0.9)
    ids[rand] = torch.randint(len(SPECIALS), vocab_size, ids.shape, generator=gen)[rand]
    return ids, labels


def sinusoids(n, dim, scale):
    """DistilBERT's sinusoidal position table, times `scale` (0.028: entries of std 0.02, as the
    word embeddings are initialised)."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    inv = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    pe = torch.zeros(n, dim)
    pe[:, 0::2] = torch.sin(pos * inv)
    pe[:, 1::2] = torch.cos(pos * inv)
    return pe * scale


def mlm_loss(model, ids, labels):
    """The MLM loss with the head applied only at the target positions (same parameters, same loss
    as DistilBertForMaskedLM's forward, without projecting every position onto the vocabulary)."""
    hidden = model.distilbert(input_ids=ids).last_hidden_state
    sel = labels != -100
    h = hidden[sel]
    h = model.vocab_layer_norm(model.activation(model.vocab_transform(h)))
    logits = model.vocab_projector(h)
    return torch.nn.functional.cross_entropy(logits, labels[sel])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "distilbert-mlm-small")
    ap.add_argument("--cache", type=Path, default=HERE / "mlm-corpus.jsonl.gz",
                    help="the extracted corpus, reused when present")
    ap.add_argument("--minutes", type=float, default=25.0, help="training time budget")
    ap.add_argument("--steps", type=int, default=0,
                    help="train exactly this many steps instead (the schedule over steps, not time)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--mask-rate", type=float, default=0.4,
                    help="share of the word pieces that are targets (BERT: 0.15)")
    ap.add_argument("--heldout-rows", type=int, default=500)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    docs = build_corpus(args.cache)
    order = list(range(len(docs)))
    rng.shuffle(order)
    n_held = max(1, round(0.05 * len(docs)))
    held_idx = set(order[:n_held])
    train_docs = [d for i, d in enumerate(docs) if i not in held_idx]
    held_docs = [d for i, d in enumerate(docs) if i in held_idx]
    print(f"split: {len(train_docs)} training documents, {len(held_docs)} held out", flush=True)

    t0 = time.time()
    tok = train_tokenizer(train_docs, out, args.vocab_size)
    vocab_size = len(tok.get_vocab())
    print(f"tokenizer: {vocab_size} word pieces in {time.time() - t0:.0f} s", flush=True)

    t0 = time.time()
    train_blocks, train_tokens = pack(train_docs, tok)
    held_blocks, held_tokens = pack(held_docs, tok)
    print(f"corpus: {train_tokens} training word pieces ({len(train_blocks)} blocks of {SEQ}), "
          f"{held_tokens} held out; tokenized in {time.time() - t0:.0f} s", flush=True)

    rows = make_heldout(held_docs, tok, args.heldout_rows, rng)
    with open(out / "heldout.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"heldout.jsonl: {len(rows)} rows, {sum(len(r['masks']) for r in rows)} masks", flush=True)

    config = DistilBertConfig(vocab_size=vocab_size, dim=256, n_layers=args.layers, n_heads=4,
                              hidden_dim=1024, max_position_embeddings=512, dropout=0.0,
                              attention_dropout=0.0,
                              activation="gelu", pad_token_id=0, tie_word_embeddings=True,
                              architectures=["DistilBertForMaskedLM"])
    model = DistilBertForMaskedLM(config)
    with torch.no_grad():
        model.distilbert.embeddings.position_embeddings.weight.copy_(sinusoids(512, config.dim, 0.028))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    gen = torch.Generator().manual_seed(SEED)
    budget = args.minutes * 60
    warmup = 0.05
    step, seen, epoch = 0, 0, 0
    perm = torch.randperm(len(train_blocks), generator=gen)
    cursor = 0
    losses = []
    t_train = time.time()
    model.train()
    while True:
        elapsed = time.time() - t_train
        frac = step / args.steps if args.steps else elapsed / budget
        if frac >= 1:
            break
        lr = args.lr * (frac / warmup if frac < warmup else (1 - frac) / (1 - warmup))
        for g in opt.param_groups:
            g["lr"] = lr
        if cursor + args.batch > len(perm):
            perm = torch.randperm(len(train_blocks), generator=gen)
            cursor = 0
            epoch += 1
        batch = train_blocks[perm[cursor: cursor + args.batch]]
        cursor += args.batch
        ids, labels = mask_batch(batch, tok, vocab_size, gen, p=args.mask_rate)
        loss = mlm_loss(model, ids, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seen += batch.numel()
        losses.append(loss.item())
        if step % 25 == 0:
            recent = sum(losses[-25:]) / len(losses[-25:])
            print(f"step {step:5d}  {elapsed / 60:5.1f} min  lr {lr:.2e}  loss {recent:.3f}  "
                  f"({seen / 1e6:.2f} M tokens, epoch {epoch + cursor / len(perm):.2f})", flush=True)
    train_seconds = time.time() - t_train
    final_loss = sum(losses[-50:]) / len(losses[-50:])
    print(f"trained: {step} steps in {train_seconds / 60:.1f} min, final loss {final_loss:.3f} "
          f"(mean of the last 50 steps, {args.mask_rate:.0%} of the pieces masked)", flush=True)

    model.eval()
    model.save_pretrained(str(out), safe_serialization=True)

    # Held-out figures, with the saved files read back as a user would.
    model = DistilBertForMaskedLM.from_pretrained(str(out), dtype=torch.float32).eval()
    tok = load_tokenizer(out)
    fill = score_rows(rows, tok, model)
    # what a model without context gets: always the most frequent alphabetic word of the training text
    counts = torch.bincount(train_blocks.flatten(), minlength=vocab_size)
    inv = {i: t for t, i in tok.get_vocab().items()}
    commonest = next(inv[int(i)] for i in counts.argsort(descending=True) if inv[int(i)].isalpha())
    golds = [g for r in rows for g in r["masks"]]
    fill["top1_always_commonest_word"] = {"word": commonest,
                                          "accuracy": sum(g == commonest for g in golds) / len(golds)}
    heval = torch.Generator().manual_seed(SEED + 1)
    sub = held_blocks[torch.randperm(len(held_blocks), generator=heval)[:256]]
    with torch.no_grad():
        tot, cnt = 0.0, 0
        for i in range(0, len(sub), 32):
            ids, labels = mask_batch(sub[i: i + 32], tok, vocab_size, heval)
            n = int((labels != -100).sum())
            tot += mlm_loss(model, ids, labels).item() * n
            cnt += n
    figures = {
        "parameters": n_params,
        "config": {k: getattr(config, k) for k in ("vocab_size", "dim", "n_layers", "n_heads",
                                                   "hidden_dim", "max_position_embeddings")},
        "corpus": {
            "documents": len(docs), "training_documents": len(train_docs),
            "heldout_documents": len(held_docs),
            "man_pages": sum(d["source"].startswith("man:") for d in docs),
            "python_modules": sum(d["source"].startswith("py:") for d in docs),
            "characters": sum(len(d["text"]) for d in docs),
            "training_tokens": train_tokens, "heldout_tokens": held_tokens,
        },
        "training": {
            "steps": step, "batch": args.batch, "sequence_length": SEQ, "tokens_seen": seen,
            "epochs": seen / (len(train_blocks) * SEQ), "seconds": round(train_seconds, 1),
            "budget": f"{args.steps} steps" if args.steps else f"{args.minutes} minutes",
            "threads": args.threads, "peak_lr": args.lr, "seed": SEED, "mask_rate": args.mask_rate,
            "final_loss": round(final_loss, 4), "first_loss": round(losses[0], 4),
        },
        # on 256 held-out blocks of 128, with BERT's 15% masking
        "heldout_mlm_loss": round(tot / cnt, 4),
        "heldout_mlm_perplexity": round(math.exp(tot / cnt), 3),
        "heldout_fill_mask": {"rows": len(rows), **fill},
        "total_seconds": round(time.time() - t_start, 1),
        "torch": torch.__version__,
    }
    (out / "training.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
