"""Question + evidence -> OpenAI chat ``messages``, within a token budget.

Every piece of evidence is fenced as data::

    <document n="2" file="report.pdf" page="3" kind="table">
    ...text or table markdown...
    [image_url part, for evidence that carries an image]
    </document>

Anything inside the evidence text that could close the fence (``</document>``, also written
with look-alike brackets, slashes or letters, or with invisible characters inside) or that a
tokenizer would read as a control token (``</s>``, ``[INST]``, ``<|im_end|>``, ``<image>``) is
neutralised first (:mod:`rag.generate.fences`), so a document cannot break out of its fence.

The system prompt, the answer template and the abstain sentence follow the question's language
(``prompts/<lang>/``, the language from :func:`ingest.text.detect.question_language`).

The budget (``cfg.context_tokens``) counts estimated text tokens plus ``cfg.tokens_per_image``
per image; at most ``cfg.max_images`` images are attached, to the highest-ranked evidence that
carries one. When the prompt is over budget the LOWEST-ranked evidence is dropped first. The
numbers [n] in the prompt are positions in :attr:`PromptBuild.evidence`, the evidence actually
sent, so citations must be resolved against that list (:func:`rag.generate.citations.build_answer`).

:func:`select_evidence` makes the same choice without reading any image, so a caller can learn
what will be sent before generating; selecting an already-selected list changes nothing.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from ingest.text.detect import LANGUAGES, Language, question_language
from rag.backend_settings import OpenAIGenerateConfig
from rag.generate.fences import neutralise
from rag.prompts import load_prompt
from rag.records import Evidence

log = logging.getLogger(__name__)

EVIDENCE_SLOT = "{evidence}"
QUESTION_SLOT = "{question}"
ABSTAIN_SLOT = "{abstain}"

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")


class PromptBuild(BaseModel):
    """Chat messages ready for ``/v1/chat/completions`` and what went into them."""

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any]]
    """OpenAI chat messages: a system message and one user message of text and ``image_url`` parts."""
    evidence: list[Evidence]
    """The evidence sent, in prompt order: [n] refers to ``evidence[n - 1]``."""
    dropped: list[Evidence] = Field(default_factory=list)
    """Evidence left out, in rank order: the lowest-ranked go first when over budget, and image-only
    items past ``max_images`` cannot be sent at all."""
    image_ids: list[str] = Field(default_factory=list)
    """Ids of the sent evidence whose image is attached."""
    estimated_tokens: int = 0
    """Estimated prompt tokens: text estimate plus ``tokens_per_image`` per image."""


class Selection(BaseModel):
    """Which evidence fits the budget, decided without reading any image."""

    model_config = ConfigDict(extra="forbid")

    sent: list[Evidence]
    dropped: list[Evidence] = Field(default_factory=list)
    image_ids: list[str] = Field(default_factory=list)
    estimated_tokens: int = 0


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text``: the larger of words-plus-punctuation and characters / 4.

    Errs high for English prose under BPE tokenizers; numbers and table markup count per symbol."""
    if not text:
        return 0
    return max(len(_TOKEN_RE.findall(text)), math.ceil(len(text) / 4))


def prompt_language(question: str | None) -> Language:
    """The language the prompts and fixed sentences for ``question`` are written in (``en`` when None)."""
    return "en" if question is None else question_language(question)


def system_prompt(question: str | None = None) -> str:
    """``prompts/<lang>/system.txt`` with the abstain sentence filled in, in ``question``'s language."""
    lang = prompt_language(question)
    return load_prompt(f"{lang}/system.txt").replace(ABSTAIN_SLOT, abstain_sentence(lang=lang))


def abstain_sentence(question: str | None = None, *, lang: Language | None = None) -> str:
    """The exact sentence a generator says when the evidence does not answer
    (``prompts/<lang>/abstain.txt``), in the language of ``question`` (or ``lang``; English when neither)."""
    return load_prompt(f"{lang or prompt_language(question)}/abstain.txt").strip()


def abstain_sentences() -> dict[Language, str]:
    """The abstain sentence of every language with prompts."""
    return {lang: abstain_sentence(lang=lang) for lang in LANGUAGES}


def _template_parts(question: str) -> tuple[str, str]:
    """``prompts/<lang>/answer.txt`` split at ``{evidence}``, with the question and abstain sentence
    filled in."""
    lang = prompt_language(question)
    template = load_prompt(f"{lang}/answer.txt")
    if EVIDENCE_SLOT not in template:
        raise ValueError(f"prompts/{lang}/answer.txt has no {EVIDENCE_SLOT} slot")
    head, _, tail = template.partition(EVIDENCE_SLOT)
    safe_question = neutralise(question.strip())
    abstain = abstain_sentence(lang=lang)

    def fill(part: str) -> str:
        return part.replace(ABSTAIN_SLOT, abstain).replace(QUESTION_SLOT, safe_question)

    return fill(head), fill(tail)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def document_open(n: int, ev: Evidence) -> str:
    """The opening fence of evidence number ``n``: file name, page, kind and section as attributes."""
    attrs = f'n="{n}" file="{_attr(Path(ev.file).name)}" page="{ev.page}" kind="{ev.kind}"'
    if ev.section:
        attrs += f' section="{_attr(" > ".join(ev.section))}"'
    return f"<document {attrs}>\n"


DOCUMENT_CLOSE = "</document>"


def _body(ev: Evidence) -> str:
    text = neutralise(ev.text.strip())
    return text + "\n" if text else ""


def _has_image(ev: Evidence) -> bool:
    return bool(ev.image_path) and Path(str(ev.image_path)).is_file()


def select_evidence(question: str, evidence: Sequence[Evidence], cfg: OpenAIGenerateConfig) -> Selection:
    """Choose the evidence to send, in rank order (``evidence[0]`` is the best).

    The first ``cfg.max_images`` items whose image file exists get their image attached; a later
    item is sent as text only, or dropped if it has no text. Then, while the estimate exceeds
    ``cfg.context_tokens``, the lowest-ranked item is dropped. If the best item alone is over
    budget it is still sent (the server truncates or refuses; nothing better can be done)."""
    head, tail = _template_parts(question)
    fixed = estimate_tokens(system_prompt(question)) + estimate_tokens(head) + estimate_tokens(tail) + 8
    candidates: list[tuple[Evidence, bool, int]] = []  # (evidence, image attached, token cost)
    dropped: list[Evidence] = []
    images = 0
    for ev in evidence:
        with_image = images < cfg.max_images and _has_image(ev)
        if ev.image_path and not with_image and not ev.text.strip():
            dropped.append(ev)
            continue
        images += with_image
        n = len(candidates) + 1
        cost = (estimate_tokens(document_open(n, ev)) + estimate_tokens(_body(ev)) + 3
                + (cfg.tokens_per_image if with_image else 0))
        candidates.append((ev, with_image, cost))
    total = fixed + sum(cost for _, _, cost in candidates)
    while len(candidates) > 1 and total > cfg.context_tokens:
        ev, _, cost = candidates.pop()
        dropped.append(ev)
        total -= cost
    if total > cfg.context_tokens:
        log.warning("the best evidence alone (%s) is estimated at %d tokens, over context_tokens=%d",
                    candidates[0][0].id if candidates else "-", total, cfg.context_tokens)
    rank = {id(ev): i for i, ev in enumerate(evidence)}
    dropped.sort(key=lambda ev: rank[id(ev)])
    if dropped:
        log.info("prompt budget: sending %d evidence items, dropped %d", len(candidates), len(dropped))
    return Selection(
        sent=[ev for ev, _, _ in candidates],
        dropped=dropped,
        image_ids=[ev.id for ev, with_image, _ in candidates if with_image],
        estimated_tokens=total,
    )


@lru_cache(maxsize=64)
def _data_url_cached(path: str, mtime_ns: int, side: int) -> str:
    with Image.open(path) as img:
        src_format = (img.format or "").upper()
        img.load()
        if max(img.size) > side:
            img.thumbnail((side, side), Image.Resampling.LANCZOS)
        has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
        buf = io.BytesIO()
        if src_format == "PNG" or has_alpha:
            # Charts and line art keep their edges; transparency survives.
            keep = img.mode in ("RGB", "RGBA", "L", "LA")
            out = img if keep else img.convert("RGBA" if has_alpha else "RGB")
            out.save(buf, format="PNG", optimize=False)
            mime = "image/png"
        else:
            img.convert("RGB").save(buf, format="JPEG", quality=90)
            mime = "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def image_data_url(path: str | Path, side: int) -> str:
    """A ``data:`` URL of the image at ``path``, resized so its longest side is at most ``side``.

    PNG sources (and images with transparency) stay PNG; others become JPEG (quality 90)."""
    p = Path(path)
    return _data_url_cached(str(p.resolve()), p.stat().st_mtime_ns, side)


def _merge_text(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        if part["type"] == "text" and out and out[-1]["type"] == "text":
            out[-1] = {"type": "text", "text": out[-1]["text"] + part["text"]}
        else:
            out.append(part)
    return out


def build_messages(question: str, evidence: Sequence[Evidence], cfg: OpenAIGenerateConfig) -> PromptBuild:
    """Chat messages for ``question`` over ``evidence`` (best first), within ``cfg``'s budget.

    Reads and encodes the attached images (blocking I/O: call it in a thread from async code).
    An image that cannot be read is left out with a warning and its item goes as text only."""
    if not question.strip():
        raise ValueError("question is empty")
    selection = select_evidence(question, evidence, cfg)
    head, tail = _template_parts(question)
    parts: list[dict[str, Any]] = [{"type": "text", "text": head}]
    attached: list[str] = []
    for n, ev in enumerate(selection.sent, start=1):
        parts.append({"type": "text", "text": document_open(n, ev) + _body(ev)})
        if ev.id in selection.image_ids and ev.image_path:
            try:
                url = image_data_url(ev.image_path, cfg.image_side)
            except (OSError, UnidentifiedImageError) as exc:
                log.warning("evidence %s: image %s not attached: %s", ev.id, ev.image_path, exc)
            else:
                parts.append({"type": "image_url", "image_url": {"url": url}})
                attached.append(ev.id)
        parts.append({"type": "text", "text": DOCUMENT_CLOSE + ("\n\n" if n < len(selection.sent) else "")})
    parts.append({"type": "text", "text": tail})
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_prompt(question)},
        {"role": "user", "content": _merge_text(parts)},
    ]
    return PromptBuild(
        messages=messages,
        evidence=selection.sent,
        dropped=selection.dropped,
        image_ids=attached,
        estimated_tokens=selection.estimated_tokens,
    )
