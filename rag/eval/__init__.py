"""Evaluation and benchmarks: page-level retrieval metrics, answer metrics, the ``mmrag eval`` harness
with its baselines (BM25 over page text, a plain LlamaIndex pipeline), and ``mmrag bench``."""
