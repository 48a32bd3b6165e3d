"""distil: a from-scratch, pure-Rust transformer inference engine for BERT-family encoders.

An Engine is a model loaded once (its weights mapped from model.safetensors, not copied; its own
thread pool). Every call copies its texts out of Python, then releases the GIL while it tokenizes,
runs the forward passes and post-processes, so calls from several Python threads run side by side.
Structured answers are those of the command line's --json (the Hugging Face pipelines' formats).

An input that cannot be answered (a text without [MASK], say) raises ValueError naming it
("texts[2]: …") with errors="raise", the default; with errors="return" it keeps its place as
{"error": "texts[2]: …"} and the other inputs keep their answers.
"""

from typing import Any, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

Errors = Literal["raise", "return"]
Prediction = dict[str, Any]  # {"score": float, "token": int, "token_str": str, "sequence": str}
Label = dict[str, Any]  # {"label": str, "score": float}
Entity = dict[str, Any]  # {"entity" | "entity_group", "score", "index"?, "word", "start", "end"}
Answer = dict[str, Any]  # {"score": float, "start": int, "end": int, "answer": str}
Part = dict[str, Any]  # {"top_k": int, "window_tokens": int, "totals": {...}}

class Engine:
    """A model loaded for inference.

    model: a model directory (config.json, model.safetensors, vocab.txt) or a Hugging Face hub id
    (found in the hub's cache, or downloaded into it).
    threads: the engine's thread pool (one per core by default); one Ray actor or Spark executor
    per group of cores is sized by it.
    dtype: what the linear layers compute in: "f32" (Hugging Face's numbers), "bf16" or "int8".

    Raises OSError when a file of the model cannot be read, ValueError when it cannot be used
    (broken weights, a wrong config), each with distil's one-line message.
    """

    def __init__(
        self,
        model: str,
        threads: Optional[int] = None,
        dtype: Literal["f32", "bf16", "int8"] = "f32",
    ) -> None: ...
    def info(self) -> dict[str, Any]:
        """The model, its head, what it can be asked ("tasks") and the settings it computes with:
        the fields of distil serve's /info that describe the model."""
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, [CLS] and [SEP] included, not truncated."""
    def embed(self, texts: Sequence[str], normalize: bool = True) -> npt.NDArray[np.float32]:
        """One vector per text, as sentence-transformers' encode computes it: a float32 array
        (len(texts), dim), NumPy's view of the array distil computed (no copy). normalize=False
        gives the pooled vectors unscaled, even for a model whose settings normalise."""
    def fill_mask(
        self,
        texts: Sequence[str],
        top_k: int = 5,
        targets: Optional[Sequence[str]] = None,
        errors: Errors = "raise",
    ) -> list[Union[list[Prediction], list[list[Prediction]]]]:
        """The top_k most likely tokens behind each [MASK], per text: a list of predictions
        ({"score", "token", "token_str", "sequence"}), or one such list per mask when a text has
        several. targets scores only those words (a warning names the ones the vocabulary lacks)."""
    def classify(
        self,
        texts: Sequence[Union[str, Tuple[str, str], dict[str, str]]],
        top_k: Optional[int] = 1,
        function: Optional[Literal["softmax", "sigmoid", "none"]] = None,
        errors: Errors = "raise",
    ) -> list[list[Label]]:
        """Labels per text, or per (text, text_pair) pair, best first (the text-classification
        pipeline's); top_k=None gives every label."""
    def ner(
        self,
        texts: Sequence[str],
        aggregation_strategy: Literal["none", "simple", "first", "average", "max"] = "none",
        errors: Errors = "raise",
    ) -> list[list[Entity]]:
        """The entities of each text (the token-classification pipeline's)."""
    def qa(
        self,
        question: Union[str, Sequence[str]],
        context: Union[str, Sequence[str]],
        top_k: int = 1,
        max_answer_len: int = 15,
        doc_stride: Optional[int] = None,
        max_seq_len: Optional[int] = None,
        handle_impossible_answer: bool = False,
        errors: Errors = "raise",
    ) -> Union[Answer, list[Answer], list[Union[Answer, list[Answer]]]]:
        """Answers from the context (the question-answering pipeline's): one answer for top_k=1,
        else a list of top_k; for one question and one context that, else a list of them, one
        per question (one context may serve every question, one question every context)."""
    def rerank(
        self, query: str, texts: Sequence[str], raw_scores: bool = False
    ) -> list[dict[str, Any]]:
        """texts scored against query by a cross-encoder, best first: [{"index", "score"}, …]."""
    def evaluate(
        self,
        lines: Sequence[Union[str, bytes]],
        top_k: int = 5,
        line_numbers: Optional[Sequence[int]] = None,
    ) -> Part:
        """Fill-mask scored on lines of a mask-filling dataset (JSON rows; blank lines are not
        rows), as distil eval scores them: a part for eval_summary. line_numbers name the lines
        in the list of skipped rows (1, 2, … by default)."""

def eval_summary(parts: Sequence[Part], seconds: float = 0.0) -> dict[str, Any]:
    """Parts from Engine.evaluate (every line of a dataset in one of them, once) added up into
    the summary distil eval --json prints for the whole dataset; exact in any split and order."""
