"""A Qdrant server (or Qdrant Cloud) by URL, through ``qdrant-client``.

:func:`index_collection` re-indexes into a new collection (``<alias>-<version>``) with payload
indexes on genres and year, and then points the alias at it in one alias operation, so searches
switch from the old index to the complete new one with no gap. :class:`QdrantServerRetriever`
searches the alias with the client it is given (``QdrantClient(url=...)``; tests use
qdrant-client's local mode, ``QdrantClient(":memory:")``, which speaks the same client API).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qdrant_client import QdrantClient, models

from recsys.retrieval.base import ItemPayload, Retriever, SearchFilters, SearchResult, result_from_hits

BATCH = 1000


def index_collection(client: QdrantClient, alias: str, version: str, item_vectors: np.ndarray, payload: ItemPayload) -> str:
    """Build collection ``<alias>-<version>`` and switch ``alias`` to it; returns the collection name.

    The previous collection behind the alias is deleted once the alias points at the new one.
    """
    name = f"{alias}-{version}"
    if client.collection_exists(name):
        raise ValueError(f"collection {name!r} exists: choose a new version for the re-index")
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=int(item_vectors.shape[1]), distance=models.Distance.DOT),
        hnsw_config=models.HnswConfigDiff(m=16, ef_construct=128),
    )
    client.create_payload_index(name, "genres", models.PayloadSchemaType.KEYWORD)
    client.create_payload_index(name, "year", models.PayloadSchemaType.FLOAT)
    vectors = np.asarray(item_vectors, dtype=np.float32)
    for start in range(0, len(payload.item_idx), BATCH):
        points = []
        for position in range(start, min(start + BATCH, len(payload.item_idx))):
            item = int(payload.item_idx[position])
            year = payload.year[position]
            body = {"genres": payload.genres[position], **({"year": float(year)} if np.isfinite(year) else {})}
            points.append(models.PointStruct(id=item, vector=vectors[item].tolist(), payload=body))
        client.upsert(name, points=points, wait=True)
    previous = [a.collection_name for a in client.get_aliases().aliases if a.alias_name == alias]
    actions: list = [models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))] if previous else []
    actions.append(models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=name, alias_name=alias)))
    client.update_collection_aliases(change_aliases_operations=actions)
    for old in previous:
        if old != name:
            client.delete_collection(old)
    return name


def server_filter(exclude: Sequence[int] | None, filters: SearchFilters | None) -> models.Filter | None:
    """The Qdrant filter of one query: must match the filters, must not be an excluded id."""
    must: list = []
    if filters is not None and filters.genres is not None:
        must.append(models.FieldCondition(key="genres", match=models.MatchAny(any=list(filters.genres))))
    if filters is not None and (filters.year_min is not None or filters.year_max is not None):
        must.append(models.FieldCondition(key="year", range=models.Range(gte=filters.year_min, lte=filters.year_max)))
    must_not = [models.HasIdCondition(has_id=[int(i) for i in exclude])] if exclude else []
    return models.Filter(must=must or None, must_not=must_not or None) if (must or must_not) else None


class QdrantServerRetriever(Retriever):
    """Search the collection behind ``alias`` on a Qdrant server."""

    def __init__(self, client: QdrantClient, alias: str, dim: int, hnsw_ef: int = 128, exact: bool = False) -> None:
        if not any(a.alias_name == alias for a in client.get_aliases().aliases):
            raise ValueError(f"no collection alias {alias!r} on this Qdrant: index one with index_collection()")
        self.client, self.alias, self.dim = client, alias, dim
        self.params = models.SearchParams(hnsw_ef=hnsw_ef, exact=exact)

    def _search(
        self, queries: np.ndarray, k: int, exclude_ids: Sequence[Sequence[int]] | None, filters: SearchFilters | None
    ) -> SearchResult:
        requests = [
            models.QueryRequest(
                query=query.tolist(),
                filter=server_filter(exclude_ids[row] if exclude_ids is not None else None, filters),
                limit=k,
                params=self.params,
                with_payload=False,
            )
            for row, query in enumerate(queries)
        ]
        responses = self.client.query_batch_points(self.alias, requests=requests)
        return result_from_hits([[(int(p.id), p.score) for p in response.points] for response in responses], k)
