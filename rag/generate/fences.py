"""Make untrusted text (evidence, a question, chat history) safe to place in a prompt.

A document must not close its ``<document>`` fence, and no text may carry what a tokenizer or
chat template reads as a control token (``</s>``, ``[INST]``, ``<|im_start|>``, ``<image>``).
Look-alikes count: ``</document>`` written with a fullwidth ``＜`` or ``／``, a division slash
(U+2215) or fraction slash (U+2044), a Cyrillic ``о``, or with a zero-width space or a NUL inside.

How: invisible characters (controls other than tab and newlines, zero-width and other format
characters, bidi overrides, Hangul fillers) are removed outright. The rest is matched on a
*shadow* of the text: each character NFKC-normalised, case-folded and mapped through a small
table of homoglyphs and bracket, slash and bar look-alikes. Where the shadow holds a fence tag
or a control token, the original character behind its ``<`` becomes ``&lt;`` (and ``[`` becomes
``&#91;``). Everything else is left exactly as written: NFKC over the whole text would turn
``10³`` into ``103`` and ``①`` into ``1``, changing the numbers a model must quote.
"""

from __future__ import annotations

import re
import unicodedata

_KEEP_CONTROLS = frozenset("\t\n\r")
_INVISIBLE_EXTRA = frozenset("\u115f\u1160\u3164\uffa0")  # Hangul fillers: letters that show nothing
_LOOKALIKES: dict[str, str] = {
    # brackets, slashes and bars a model may read as "<", "/" or "|"
    **dict.fromkeys("\u2039\u2329\u3008\u27e8\u02c2\u1438\u276e\u29fc", "<"),
    **dict.fromkeys("\u2215\u2044\u29f8\u2571\u27cb\u2cc6\u30ce\u3033", "/"),
    **dict.fromkeys("\u2223\u01c0\u2502\u23d0\u05c0\u2758", "|"),
    # Cyrillic, Greek, Armenian and small-capital letters that look Latin (after case folding)
    **dict.fromkeys("аα", "a"), "в": "b", **dict.fromkeys("сϲᴄ", "c"), **dict.fromkeys("ԁᴅ", "d"),
    **dict.fromkeys("еεᴇ", "e"), **dict.fromkeys("ɡɢ", "g"), "һ": "h", **dict.fromkeys("іιɪ", "i"),
    "ј": "j", **dict.fromkeys("кκ", "k"), **dict.fromkeys("ӏ", "l"), **dict.fromkeys("мᴍ", "m"),
    **dict.fromkeys("ոɴп", "n"), **dict.fromkeys("оοօᴏ", "o"), **dict.fromkeys("рρ", "p"),
    "ԛ": "q", **dict.fromkeys("ѕꜱ", "s"), **dict.fromkeys("тτᴛ", "t"), **dict.fromkeys("υսᴜμ", "u"),
    **dict.fromkeys("νѵ", "v"), "ԝ": "w", **dict.fromkeys("хχ", "x"), "у": "y",
}

_FENCE_RE = re.compile(r"<\s*/?\s*document")
_SPECIAL_RE = re.compile(
    r"<\|[^<>|\n]{0,40}\|>"  # <|im_start|>, <|eot_id|> ...
    r"|<\s*/?\s*(?:s|image|unk|pad|bos|eos|start_of_turn|end_of_turn)\s*>"  # </s>, <image>
    r"|<</?sys>>"
    r"|\[/?inst\]",
)
_ESCAPES = {"<": "&lt;", "[": "&#91;"}


def _invisible(ch: str) -> bool:
    if ch in _KEEP_CONTROLS:
        return False
    return unicodedata.category(ch) in ("Cc", "Cf") or ch in _INVISIBLE_EXTRA


def strip_invisible(text: str) -> str:
    """``text`` without control characters (tab and newlines kept), zero-width and other format
    characters (ZWSP, ZWJ, BOM, soft hyphen, bidi controls) and Hangul fillers."""
    return "".join(ch for ch in text if not _invisible(ch))


def _shadow(text: str) -> tuple[str, list[int]]:
    """What ``text`` reads as: per character NFKC, case-folded, look-alikes mapped; and for each
    shadow character the index of the original character it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            chars.append(_LOOKALIKES.get(c, c))
            origin.append(i)
    return "".join(chars), origin


def neutralise(text: str) -> str:
    """``text`` made safe to place inside a ``<document>`` fence or a prompt.

    Invisible characters are removed; fence tags and control tokens, including look-alikes, lose
    their opening ``<`` to ``&lt;`` (and ``[`` to ``&#91;``); nothing else changes."""
    text = strip_invisible(text)
    shadow, origin = _shadow(text)
    escape: dict[int, str] = {}
    for m in _FENCE_RE.finditer(shadow):
        escape[origin[m.start()]] = "&lt;"
    for m in _SPECIAL_RE.finditer(shadow):
        for k in range(m.start(), m.end()):
            if shadow[k] in _ESCAPES:
                escape[origin[k]] = _ESCAPES[shadow[k]]
    if not escape:
        return text
    return "".join(escape.get(i, ch) for i, ch in enumerate(text))
