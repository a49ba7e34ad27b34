"""Calibrate the evidence-sufficiency abstention (``rag.generate.support``) on a QA set.

``collect`` retrieves each question's evidence within its document (as ``mmrag eval --scope doc``
does), answers extractively twice (the shipped answerer, and one that never abstains on coverage)
and records the support features of each answer. ``score`` replays abstention rules and prints
abstention precision / recall / F1 and contains-gold on the answerable questions. Dev split only.

    python scripts/abstention_study.py collect QA.jsonl --docs DIR --index IX --out feats.json
    python scripts/abstention_study.py score feats.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from study_cli import study_parser  # the sibling module: scripts run as files

from rag.eval import metrics as m
from rag.eval.dataset import load_qa
from rag.generate import extractive
from rag.generate.citations import is_abstention, parse_citations
from rag.generate.support import measure
from rag.records import SearchFilter

log = logging.getLogger("abstention_study")


def _features(question: str, text: str, evidence: Sequence[Any]) -> dict[str, Any]:
    if is_abstention(text):
        return {"abstained": True}
    cited_ns = sorted({c.n for c in parse_citations(text, evidence).citations})
    cited = [evidence[n - 1].text for n in cited_ns if 0 < n <= len(evidence)]
    first = text.split("\n", 1)[0]
    q_terms = {t for t, _ in extractive.terms(question)}
    a_terms = {t for t, _ in extractive.terms(first)}
    out: dict[str, Any] = {"abstained": False, "coverage": len(q_terms & a_terms) / max(len(q_terms), 1)}
    for name, texts in (("sent", [first]), ("cited", cited or [first]), ("all", [e.text for e in evidence])):
        s = measure(question, text, texts)
        out[f"{name}_numbers"], out[f"{name}_names"], out[f"{name}_answer_numbers"] = (
            s.numbers, s.names, s.answer_numbers)
    return out


def collect(args: argparse.Namespace) -> None:
    from rag.pipeline import Pipeline

    items = load_qa(args.qa, args.limit)
    rows = []
    with Pipeline.from_config(args.config, {"store.path": args.index}) as pipe:
        shipped = extractive.ExtractiveGenerator()
        permissive = extractive.ExtractiveGenerator(min_coverage=0.01)
        for item in items:
            flt = SearchFilter(files=[str((Path(args.docs) / item.doc).resolve())])
            evidence = pipe.search(item.question, flt=flt)
            row: dict[str, Any] = {"id": item.id, "answerable": item.answerable, "question": item.question}
            for name, gen in (("shipped", shipped), ("permissive", permissive)):
                text = gen.answer_text(item.question, evidence)
                row[name] = {"contains": m.contains_answer(text, item.answer) if item.answerable else None,
                             **_features(item.question, text, evidence)}
            rows.append(row)
    Path(args.out).write_text(json.dumps(rows, indent=1), encoding="utf-8")


def evaluate(rows: Sequence[dict[str, Any]], rule: Any) -> dict[str, float]:
    """``rule(row) -> (abstained, contains)``: abstention P/R/F1 and mean contains on answerable."""
    abst, ans, cont = [], [], []
    for r in rows:
        a, c = rule(r)
        abst.append(a)
        ans.append(r["answerable"])
        if r["answerable"]:
            cont.append(0.0 if a else (c or 0.0))
    s = m.abstention_scores(abst, ans)
    return {"p": s.precision or 0.0, "r": s.recall or 0.0, "f1": s.f1 or 0.0, "contains": sum(cont) / len(cont),
            "abstained": sum(abst)}


def score(args: argparse.Namespace) -> None:
    rows = json.loads(Path(args.feats).read_text(encoding="utf-8"))
    print("shipped:", evaluate(rows, lambda r: (r["shipped"]["abstained"], r["shipped"]["contains"])))
    print("permissive:", evaluate(rows, lambda r: (r["permissive"]["abstained"], r["permissive"]["contains"])))
    results = []
    for base, where, tn, tname, tcov, tans in itertools.product(
            ("shipped", "permissive"), ("sent", "cited", "all"), (0.0, 0.5, 0.99), (0.0, 0.5, 0.99),
            (0.0, 0.2, 0.3, 0.4, 0.5), (0.0, 0.99)):
        def rule(r: dict[str, Any], base: str = base, where: str = where, tn: float = tn, tname: float = tname,
                 tcov: float = tcov, tans: float = tans) -> tuple[bool, float | None]:
            f = r[base]
            if f["abstained"]:
                return True, None
            bad = (f[f"{where}_numbers"] < tn or f[f"{where}_names"] < tname or f["coverage"] < tcov
                   or f[f"{where}_answer_numbers"] < tans)
            return bad, f["contains"]
        res = evaluate(rows, rule)
        results.append((res["f1"], res["contains"], res["p"], res["r"], res["abstained"],
                        base, where, tn, tname, tcov, tans))
    shipped = evaluate(rows, lambda r: (r["shipped"]["abstained"], r["shipped"]["contains"]))["contains"]
    print(f"best F1 with contains >= shipped ({shipped:.3f}):")
    ok = sorted((r for r in results if r[1] >= shipped - 1e-9), reverse=True)
    for r in ok[:15]:
        print(f"  F1 {r[0]:.3f} contains {r[1]:.3f} P {r[2]:.3f} R {r[3]:.3f} n={r[4]}  base={r[5]} on={r[6]} "
              f"numbers>={r[7]} names>={r[8]} coverage>={r[9]} answer_numbers>={r[10]}")
    print("best F1 overall:")
    for r in sorted(results, reverse=True)[:10]:
        print(f"  F1 {r[0]:.3f} contains {r[1]:.3f} P {r[2]:.3f} R {r[3]:.3f} n={r[4]}  base={r[5]} on={r[6]} "
              f"numbers>={r[7]} names>={r[8]} coverage>={r[9]} answer_numbers>={r[10]}")


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap, sub = study_parser(__doc__)
    s = sub.add_parser("score")
    s.add_argument("feats")
    args = ap.parse_args(argv)
    {"collect": collect, "score": score}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
