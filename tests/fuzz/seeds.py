"""Writes the fuzz targets' seed inputs into tests/fuzz/corpus/<target>/seed-*.

The seeds are small valid inputs the fuzzers start from: tiny `model.safetensors` files of the
shapes `harness.rs` configures (DistilBERT and BERT, f32/f16/bf16, with and without an MLM head,
4-byte aligned and not), the fixtures' JSON files, small vocabularies and a few hard texts.
Python 3 standard library only. Run from anywhere: python3 tests/fuzz/seeds.py [OUT_DIR]
(OUT_DIR defaults to tests/fuzz/corpus).
"""

import json
import random
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "models"
CORPUS = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "corpus"

# The shapes of harness.rs's TINY_*_CONFIG and TINY_VOCAB.
VOCAB, DIM, HIDDEN, POSITIONS, TYPES = 12, 4, 6, 16, 2


def distilbert_tensors(prefix, head, tied):
    """DistilBertForMaskedLM's keys (`prefix` = "distilbert." or "" for a bare DistilBertModel)."""
    t = {
        "embeddings.word_embeddings.weight": [VOCAB, DIM],
        "embeddings.position_embeddings.weight": [POSITIONS, DIM],
        "embeddings.LayerNorm.weight": [DIM],
        "embeddings.LayerNorm.bias": [DIM],
    }
    layer = "transformer.layer.0."
    for lin in ["q_lin", "k_lin", "v_lin", "out_lin"]:
        t[f"{layer}attention.{lin}.weight"] = [DIM, DIM]
        t[f"{layer}attention.{lin}.bias"] = [DIM]
    t[f"{layer}ffn.lin1.weight"] = [HIDDEN, DIM]
    t[f"{layer}ffn.lin1.bias"] = [HIDDEN]
    t[f"{layer}ffn.lin2.weight"] = [DIM, HIDDEN]
    t[f"{layer}ffn.lin2.bias"] = [DIM]
    for norm in ["sa_layer_norm", "output_layer_norm"]:
        t[f"{layer}{norm}.weight"] = [DIM]
        t[f"{layer}{norm}.bias"] = [DIM]
    t = {prefix + k: v for k, v in t.items()}
    if head:
        t["vocab_transform.weight"] = [DIM, DIM]
        t["vocab_transform.bias"] = [DIM]
        t["vocab_layer_norm.weight"] = [DIM]
        t["vocab_layer_norm.bias"] = [DIM]
        t["vocab_projector.bias"] = [VOCAB]
        if not tied:
            t["vocab_projector.weight"] = [VOCAB, DIM]
    return t


def bert_tensors(prefix, head, pooler):
    """BertForMaskedLM's keys (`prefix` = "bert." or "" for a bare BertModel)."""
    t = {
        "embeddings.word_embeddings.weight": [VOCAB, DIM],
        "embeddings.position_embeddings.weight": [POSITIONS, DIM],
        "embeddings.token_type_embeddings.weight": [TYPES, DIM],
        "embeddings.LayerNorm.weight": [DIM],
        "embeddings.LayerNorm.bias": [DIM],
    }
    layer = "encoder.layer.0."
    for lin in ["attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense"]:
        t[f"{layer}{lin}.weight"] = [DIM, DIM]
        t[f"{layer}{lin}.bias"] = [DIM]
    t[f"{layer}intermediate.dense.weight"] = [HIDDEN, DIM]
    t[f"{layer}intermediate.dense.bias"] = [HIDDEN]
    t[f"{layer}output.dense.weight"] = [DIM, HIDDEN]
    t[f"{layer}output.dense.bias"] = [DIM]
    for norm in ["attention.output.LayerNorm", "output.LayerNorm"]:
        t[f"{layer}{norm}.weight"] = [DIM]
        t[f"{layer}{norm}.bias"] = [DIM]
    if pooler:
        t["pooler.dense.weight"] = [DIM, DIM]
        t["pooler.dense.bias"] = [DIM]
    t = {prefix + k: v for k, v in t.items()}
    if head:
        t["cls.predictions.transform.dense.weight"] = [DIM, DIM]
        t["cls.predictions.transform.dense.bias"] = [DIM]
        t["cls.predictions.transform.LayerNorm.weight"] = [DIM]
        t["cls.predictions.transform.LayerNorm.bias"] = [DIM]
        t["cls.predictions.bias"] = [VOCAB]
    return t


def encode(values, dtype):
    if dtype == "F32":
        return struct.pack(f"<{len(values)}f", *values)
    if dtype == "F16":
        return struct.pack(f"<{len(values)}e", *values)
    if dtype == "BF16":
        # The top half of the f32 (truncated, which is fine for random weights).
        return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0] >> 16)[:2]
                        for v in values)
    raise ValueError(dtype)


def safetensors(shapes, dtype, seed, aligned=True):
    """A safetensors file: 8-byte header length, JSON header, then the tensors back to back.
    Aligned files pad the header with spaces to a multiple of 8 (as the safetensors library does);
    unaligned ones make it one byte short of that, so f32 data is not 4-byte aligned."""
    rng = random.Random(seed)
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for key in sorted(shapes):
        shape = shapes[key]
        n = 1
        for d in shape:
            n *= d
        if key.endswith("LayerNorm.weight") or key.endswith("norm.weight"):
            values = [1.0 + rng.gauss(0, 0.1) for _ in range(n)]
        else:
            values = [rng.gauss(0, 0.2) for _ in range(n)]
        blob = encode(values, dtype)
        header[key] = {"dtype": dtype, "shape": shape,
                       "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header, separators=(",", ":")).encode()
    pad = (-len(text)) % 8 if aligned else (7 - len(text)) % 8
    text += b" " * pad
    return struct.pack("<Q", len(text)) + text + data


def write(target, name, data):
    path = CORPUS / target / f"seed-{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def main():
    # safetensors: every key layout and dtype distil reads, plus the degenerate files.
    distilbert, bert = distilbert_tensors, bert_tensors
    models = {
        "distilbert-mlm-f32": safetensors(distilbert("distilbert.", True, True), "F32", 1),
        "distilbert-mlm-untied-bf16":
            safetensors(distilbert("distilbert.", True, False), "BF16", 2),
        "distilbert-bare-f16": safetensors(distilbert("", False, True), "F16", 3),
        "distilbert-mlm-f32-unaligned":
            safetensors(distilbert("distilbert.", True, True), "F32", 4, aligned=False),
        "bert-mlm-f32": safetensors(bert("bert.", True, False), "F32", 5),
        "bert-bare-pooler-bf16": safetensors(bert("", False, True), "BF16", 6),
        "bert-mlm-f16-unaligned": safetensors(bert("bert.", True, False), "F16", 7, aligned=False),
        "empty": b"",
        "empty-header": struct.pack("<Q", 2) + b"{}",
    }
    for name, data in models.items():
        write("safetensors", name, data)

    # config: the fixtures' JSON files, each read by every JSON reader in the harness.
    for model in ["distilbert-cased", "bert-mlm-uncased", "distilbert-uncased-bare"]:
        write("config", f"{model}-config.json", (FIXTURES / model / "config.json").read_bytes())
    for name, path in {
        "tokenizer_config.json": "distilbert-cased/tokenizer_config.json",
        "special_tokens_map.json": "bert-uncased/special_tokens_map.json",
        "modules.json": "bert-uncased/modules.json",
        "pooling.json": "bert-uncased/1_Pooling/config.json",
        "sentence_bert_config.json": "bert-uncased/sentence_bert_config.json",
    }.items():
        write("config", name, (FIXTURES / path).read_bytes())
    write("config", "added_tokens_decoder.json", json.dumps({
        "do_lower_case": True, "model_max_length": 1e30, "clean_up_tokenization_spaces": True,
        "mask_token": {"content": "[MASK]", "lstrip": False},
        "additional_special_tokens": ["the"],
        "added_tokens_decoder": {
            "0": {"content": "[PAD]", "lstrip": False, "normalized": False, "rstrip": False,
                  "single_word": False, "special": True},
            "4": {"content": "[MASK]", "lstrip": False, "normalized": False, "rstrip": False,
                  "single_word": False, "special": True},
        },
    }, indent=1))
    write("config", "bert-eps-act.json", json.dumps({
        "model_type": "bert", "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
        "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512,
        "hidden_act": "gelu_new", "layer_norm_eps": 1e-7, "position_embedding_type": "absolute",
    }))

    # vocab: small vocabularies with the required special tokens, CRLF, duplicates, `##` pieces.
    vocabs = {
        "tiny": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "hello",
                 ","],
        "crlf-duplicates": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##a", "a ", "é", "##é",
                            "東"],
        "no-final-newline": ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "##", "#", "[MASK]x", "İ", "ß"],
    }
    write("vocab", "tiny", "\n".join(vocabs["tiny"]) + "\n")
    write("vocab", "crlf-duplicates", "\r\n".join(vocabs["crlf-duplicates"]) + "\r\n")
    write("vocab", "no-final-newline", "\n".join(vocabs["no-final-newline"]))

    # tokenizer: a few hard lines (special tokens, accents, CJK, control chars, long words).
    texts = {
        "special": "Paris is the [MASK] of [CLS]France[SEP].[MASK][MASK] [mask] [UNK]x",
        "accents": "café naïve Ångström résumé İstanbul ẞ ǅ ﬁ",
        "cjk": "Tokyo東京Kyoto京都 𠀀 한국어 ＡＢＣ１２３\u3000here",
        "controls":
            "null\u0000byte\u0007 tab\tcr\r\nnel\u0085 zw\u200bsp \ufeffbom soft\u00adhyphen",
        "emoji": "👍🏽 👨\u200d👩\u200d👧 🇫🇷 1️⃣ \u0301 lone accent",
        "long-word": "a" * 101 + " " + "é" * 100 + " unaffable",
        "punctuation": "¿Qué? ¡Sí! «quote» — dash… $5.00 @user #tag (a) [b] {c} `d` ~e~",
    }
    for name, text in texts.items():
        write("tokenizer", name, text)
    write("tokenizer", "invalid-utf8", b"abc\xff\xfe def \xc3\x28 \xe2\x82 end")


if __name__ == "__main__":
    main()
