"""What tests need, shipped with the package: contract suites that every backend's tests subclass
(:mod:`.store`, :mod:`.embedder`, :mod:`.generator`, :mod:`.reranker`, :mod:`.ocr`, :mod:`.parser`;
they need pytest), corpora for store tests (:mod:`.corpus`), tiny random models (:mod:`.tiny`) and a
real vLLM CPU server (:mod:`.vllm_server`)."""
