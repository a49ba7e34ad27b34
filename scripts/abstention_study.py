"""Calibrate abstention (``rag.generate.support``, ``rag.generate.extractive``) on a QA set.

``collect`` retrieves each question's evidence once, within its document (as ``mmrag eval --scope
doc`` does) and over the whole index (``--scope corpus``), and keeps it with the e5 similarity of
the question to its best candidate sentences. ``features`` replays the answerer on the kept
evidence (no index, no model: seconds) and writes per question the features of its candidate
answer. ``score`` replays abstention rules over those features: abstention precision / recall /
F1 on the unanswerable questions and contains-gold on the answerable ones, with every threshold
also chosen by cross-validation over documents (the held-out numbers). Dev split only. The
replay runs the answerer without an embedder, so its cross-language path (a question in the other
language than its evidence) is not replayed: ``mmrag eval`` measures that.

    python scripts/abstention_study.py collect QA.jsonl --docs DIR --index IX --out evidence.json
    python scripts/abstention_study.py features evidence.json --out feats.json
    python scripts/abstention_study.py score feats.json [--scope doc] [--folds 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import random
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from study_cli import study_parser  # the sibling module: scripts run as files

from rag.backend_settings import ExtractiveGenerateConfig
from rag.eval import metrics as m
from rag.eval.dataset import load_qa
from rag.generate import extractive
from rag.generate.citations import build_answer
from rag.generate.support import measure
from rag.records import Evidence, SearchFilter

log = logging.getLogger("abstention_study")
TOP_SENTENCES = 5
"""Candidate sentences per question whose e5 similarity to the question is kept."""
Row = dict[str, Any]
_VISUAL = re.compile(
    r"\b(colou?rs?|red|blue|green|yellow|black|white|orange|purple|gr[ae]y|underlined|italic|bold|"
    r"highlighted|logos?|icons?|pictures?|photos?|photographs?|images?)\b|색깔|색상|사진", re.IGNORECASE)
"""Words of a question about what only a picture shows (a rule studied, not shipped)."""


def question_asks(question: str) -> list[str]:
    """``["visual"]`` for a question about colours, logos, pictured things, marked-up text."""
    return ["visual"] if _VISUAL.search(question) else []


def collect(args: argparse.Namespace) -> None:
    from rag.pipeline import Pipeline

    items = load_qa(args.qa, args.limit)
    rows = []
    with Pipeline.from_config(args.config, {"store.path": args.index}) as pipe:
        for i, item in enumerate(items):
            row: Row = {"id": item.id, "doc": item.doc, "answerable": item.answerable, "question": item.question,
                        "gold": item.answer, "scopes": {}}
            qv = np.asarray(pipe.embedder.embed_queries([item.question]))[0]
            for scope in ("doc", "corpus"):
                flt = SearchFilter(files=[str((Path(args.docs) / item.doc).resolve())]) if scope == "doc" else None
                evidence = pipe.generator.select(item.question, pipe.search(item.question, flt=flt))
                ranking = extractive.rank(item.question, evidence)
                quotes = list(dict.fromkeys(s.unit.quote for s in ranking.scored))[:TOP_SENTENCES]
                sims = (np.asarray(pipe.embedder.embed_texts(quotes)) @ qv).tolist() if quotes else []
                row["scopes"][scope] = {"evidence": [e.model_dump(mode="json") for e in evidence],
                                        "sims": dict(zip(quotes, sims, strict=True))}
            rows.append(row)
            if i % 20 == 0:
                log.info("%d / %d", i, len(items))
    Path(args.out).write_text(json.dumps(rows), encoding="utf-8")


def answer_features(question: str, evidence: Sequence[Evidence], sims: dict[str, float],
                    gold: str | None) -> Row:
    """What a rule may look at for one question: the permissive answer (quotes its best sentence
    whatever the coverage) and its support, the best sentence's scores, the retrieval scores."""
    ranking = extractive.rank(question, evidence)
    text = extractive.ExtractiveGenerator(min_coverage=0.01).answer_text(question, evidence)
    plain = build_answer(question, text, evidence)  # no support check: the candidate
    out: Row = {"abstained": plain.abstained, "missing": bool(ranking.missing),
                "contains": m.contains_answer(plain.text, gold) if gold is not None and not plain.abstained else 0.0,
                "asks": question_asks(question)}
    scores = [e.score for e in evidence]
    out["top_score"] = scores[0] if scores else 0.0
    out["margin"] = scores[0] - scores[1] if len(scores) > 1 else 0.0
    if plain.abstained or not ranking.scored:
        return out
    best = ranking.scored[0]
    out.update(coverage=best.coverage, weighted=best.weighted, score=best.score,
               sim=max(sims.values()) if sims else 0.0, best_sim=sims.get(best.unit.quote, 0.0),
               second=ranking.scored[1].score / best.score if len(ranking.scored) > 1 and best.score else 0.0)
    cited = sorted({c.n for c in plain.citations})
    texts = [t for n in cited for t in (evidence[n - 1].text, Path(evidence[n - 1].file).stem.replace("_", " "))]
    for name, where in (("sent", [best.unit.quote]), ("cited", texts or [plain.text])):
        s = measure(question, plain.text, where, [Path(evidence[n - 1].file).stem for n in cited])
        out[f"{name}_numbers"], out[f"{name}_names"], out[f"{name}_labels"] = s.numbers, s.names, s.labels
        out[f"{name}_ids"] = s.identifiers
    return out


def features(args: argparse.Namespace) -> None:
    rows = json.loads(Path(args.evidence).read_text(encoding="utf-8"))
    out = []
    for r in rows:
        f: Row = {"file": r["doc"], **{k: r[k] for k in ("id", "answerable", "question", "gold")}}
        for scope, data in r["scopes"].items():
            evidence = [Evidence.model_validate(e) for e in data["evidence"]]
            f[scope] = answer_features(r["question"], evidence, data["sims"], r["gold"] if r["answerable"] else None)
        out.append(f)
    Path(args.out).write_text(json.dumps(out, indent=0), encoding="utf-8")


def evaluate(rows: Sequence[Row], abstains: Callable[[Row], bool], scope: str) -> dict[str, float]:
    """Abstention P/R/F1 and mean contains-gold over the answerable questions."""
    abst, ans, cont = [], [], []
    for r in rows:
        f = r[scope]
        a = f["abstained"] or abstains(f)
        abst.append(a)
        ans.append(r["answerable"])
        if r["answerable"]:
            cont.append(0.0 if a else f["contains"])
    s = m.abstention_scores(abst, ans)
    return {"p": s.precision or 0.0, "r": s.recall or 0.0, "f1": s.f1 or 0.0,
            "contains": sum(cont) / max(len(cont), 1), "abstained": float(sum(abst))}


FACTS: dict[str, Sequence[Any]] = {
    "names": (0.0, 0.5, 0.67, 1.0),
    "ids": (0.0, 1.0),
    "numbers": (0.0, 0.5, 1.0),
    "labels": (0.0, 0.5, 1.0),
}
"""The shipped kinds of rule (``generate.support_*``): shares of the question's names,
identifiers, numbers and labels the cited text must hold."""
MORE: dict[str, Sequence[Any]] = {
    "weighted": (0.0, 0.2, 0.3),
    "sim": (0.0, 0.78, 0.79, 0.80, 0.81, 0.82),
    "second": (0.0, 0.2, 0.3, 0.4),
    "visual": (False, True),
}
"""Rules studied and not shipped: the best sentence's weighted coverage, its e5 similarity to the
question, the second-best sentence's score over the best's, questions about what only a picture
shows."""
OFF: dict[str, Any] = {"names": 0.0, "ids": 0.0, "numbers": 0.0, "labels": 0.0, "weighted": 0.0, "sim": 0.0,
                       "second": 0.0, "visual": False}


def rule_of(t: dict[str, Any]) -> Callable[[Row], bool]:
    """The abstention rule of setting ``t`` (a question number in no evidence always abstains:
    the extractive answerer's own check)."""
    def abstains(f: Row) -> bool:
        if f["missing"]:
            return True
        return bool(f["cited_names"] < t["names"] or f["cited_ids"] < t["ids"] or f["cited_numbers"] < t["numbers"]
                    or f["cited_labels"] < t["labels"] or f["weighted"] < t["weighted"]
                    or f["best_sim"] < t["sim"] or f["second"] < t["second"] or (t["visual"] and "visual" in f["asks"]))
    return abstains


def _settings(grid: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [{**OFF, **dict(zip(keys, vals, strict=True))} for vals in itertools.product(*grid.values())]


def _pick(rows: Sequence[Row], scope: str, floor: float, grid: dict[str, Sequence[Any]]) -> dict[str, Any]:
    """The setting of best F1 whose contains-gold is at least ``floor`` (the best contains else)."""
    best: tuple[tuple[float, float], dict[str, Any]] | None = None
    for t in _settings(grid):
        res = evaluate(rows, rule_of(t), scope)
        key = (res["f1"] if res["contains"] >= floor - 1e-9 else -1.0, res["contains"])
        if best is None or key > best[0]:
            best = (key, t)
    assert best is not None
    return best[1]


def _show(t: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in t.items() if v != OFF[k]) + "}"


def _line(res: dict[str, float]) -> str:
    return (f"F1 {res['f1']:.3f} P {res['p']:.3f} R {res['r']:.3f} contains {res['contains']:.3f} "
            f"abstained {res['abstained']:.0f}")


def score(args: argparse.Namespace) -> None:
    rows = json.loads(Path(args.feats).read_text(encoding="utf-8"))
    scope = args.scope
    grid = FACTS if args.rules == "facts" else {**FACTS, **MORE}
    cfg = ExtractiveGenerateConfig()
    before = {**OFF, "names": 0.67, "numbers": 0.5}  # the rule before this study (names, numbers)
    shipped = {**OFF, "names": cfg.support_names, "numbers": cfg.support_numbers, "ids": cfg.support_identifiers,
               "labels": cfg.support_labels}
    base = evaluate(rows, rule_of(before), scope)
    print(f"[{scope}] names >= 0.67, numbers >= 0.5: {_line(base)}")
    print(f"[{scope}] shipped {_show(shipped)}: {_line(evaluate(rows, rule_of(shipped), scope))}")
    floor = base["contains"] - args.slack
    results = sorted(((evaluate(rows, rule_of(t), scope), t) for t in _settings(grid)),
                     key=lambda x: (-x[0]["f1"], -x[0]["contains"]))
    print(f"best F1 with contains >= {floor:.3f}:")
    for res, t in [x for x in results if x[0]["contains"] >= floor - 1e-9][:10]:
        print(f"  {_line(res)}  {_show(t)}")
    # Held out: thresholds picked on the other folds' documents, applied to this fold's.
    docs = sorted({r["file"] for r in rows})
    random.Random(args.seed).shuffle(docs)
    fold_of = {d: i % args.folds for i, d in enumerate(docs)}
    abst: list[bool] = []
    ans: list[bool] = []
    cont: list[float] = []
    for k in range(args.folds):
        train = [r for r in rows if fold_of[r["file"]] != k]
        test = [r for r in rows if fold_of[r["file"]] == k]
        t = _pick(train, scope, evaluate(train, rule_of(before), scope)["contains"] - args.slack, grid)
        rule = rule_of(t)
        print(f"  fold {k}: {len(test)} questions, picked {_show(t)}")
        for r in test:
            f = r[scope]
            a = f["abstained"] or rule(f)
            abst.append(a)
            ans.append(r["answerable"])
            if r["answerable"]:
                cont.append(0.0 if a else f["contains"])
    s = m.abstention_scores(abst, ans)
    print(f"held out ({args.folds} folds over documents, {args.rules} rules): P {s.precision or 0:.3f} "
          f"R {s.recall or 0:.3f} F1 {s.f1 or 0:.3f} contains {sum(cont) / max(len(cont), 1):.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap, sub = study_parser(__doc__)
    f = sub.add_parser("features")
    f.add_argument("evidence")
    f.add_argument("--out", required=True)
    s = sub.add_parser("score")
    s.add_argument("feats")
    s.add_argument("--scope", default="doc", choices=("doc", "corpus"))
    s.add_argument("--folds", type=int, default=5)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--slack", type=float, default=0.0,
                   help="contains-gold a rule may lose against names >= 0.67, numbers >= 0.5 (picked on each fold)")
    s.add_argument("--rules", default="facts", choices=("facts", "all"),
                   help="facts: the shipped kinds (names, identifiers, numbers, labels); all: the studied ones too")
    args = ap.parse_args(argv)
    {"collect": collect, "features": features, "score": score}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
