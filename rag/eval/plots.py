"""The evaluation's figure: page recall by evidence type, one panel per k (matplotlib, optional)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from rag.eval.results import UNANSWERABLE, EvalSummary

log = logging.getLogger(__name__)


def write_plots(summary: EvalSummary, ks: Sequence[int], out: Path) -> list[Path]:
    """Bar charts of recall@k per evidence type, one panel per k, one bar per system."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no plots (pip install matplotlib)")
        return []
    groups = [g for g in summary.by_evidence_type if g != UNANSWERABLE]
    systems = list(summary.overall.retrieval)
    fig, axes = plt.subplots(1, len(ks), figsize=(4.2 * len(ks), 3.8), sharey=True, squeeze=False)
    width = 0.8 / max(len(systems), 1)
    for ax, k in zip(axes[0], ks, strict=True):
        for i, system in enumerate(systems):
            vals = [summary.by_evidence_type[g].retrieval[system].get(f"recall@{k}") or 0.0 for g in groups]
            ax.bar([x + i * width for x in range(len(groups))], vals, width, label=system)
        ax.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(groups))])
        ax.set_xticklabels([f"{g}\n(n={summary.by_evidence_type[g].n_retrieval})" for g in groups],
                           fontsize=8)
        ax.set_title(f"recall@{k}")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("page recall")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Page recall by evidence type ({summary.overall.n_retrieval} questions)")
    fig.tight_layout()
    path = out / "recall_by_evidence_type.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
