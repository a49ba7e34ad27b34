"""The server's routes, one module per face: ``admin`` (health, metrics, models), ``chat`` (OpenAI
chat completions), ``documents`` (search, ingest jobs, deletion) and ``web`` (the page and the cited
page images). A new endpoint is one function in one of them (or a new module whose ``router``
:func:`rag.server.app.create_app` includes)."""
