"""Language analysis shared by ingest and rag: keyword tokens, sentences, a question's language.

One home for tokenising: :mod:`ingest.text.tokens` holds every job's tokeniser and word lists
(the keyword index, the extractive answerer, the follow-up rule, evidence sufficiency, the
document stage, the BM25 baseline), each with why it differs from the others.
"""
