"""Top-K retrieval of items for query vectors: one interface, three implementations.

``search(vectors, k, exclude_ids, filters)`` (the abstract ``base.Retriever``) is answered by ``exact.py``
(a matrix product over the catalogue, what offline evaluation ranks with), ``qdrant_edge.py``
(Qdrant's engine embedded in the process, on disk, HNSW built offline) and ``qdrant_server.py``
(a Qdrant server by URL through ``qdrant-client``). Exclusions (movies a user has watched) are an
index filter in every implementation, never an over-fetch followed by dropping.
"""
