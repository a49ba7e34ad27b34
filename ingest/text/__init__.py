"""Language analysis shared by ingest and rag: keyword tokens, sentences, a question's language.

One home for tokenising: the keyword (sparse) branch and the extractive answerer both read
Korean through :mod:`ingest.text.tokens`, so a document and a question are cut the same way.
"""
