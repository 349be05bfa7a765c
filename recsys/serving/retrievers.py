"""The retriever of a serving bundle, as ``conf/serve/retriever/<name>.yaml`` selects it.

Each factory is instantiated with ``_partial_: true`` and called with the loaded bundle; all of
them search the bundle's item vectors over its catalogue.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from recsys.retrieval.base import Retriever
from recsys.retrieval.exact import ExactRetriever
from recsys.serving.bundle import ITEM_ITEM, BundleError, ServingBundle


def exact_retriever(bundle: ServingBundle) -> Retriever:
    """Brute-force inner product (torch), the ranking of offline evaluation."""
    return ExactRetriever(bundle.item_vectors, bundle.payload())


def edge_retriever(
    bundle: ServingBundle, hnsw_ef: int = 128, exact: bool = False, acorn_max_selectivity: float | None = 1.0, private_copy: bool = True
) -> Retriever:
    """Qdrant Edge over the shard built at packaging time (HNSW; ``exact`` scans instead).

    Args:
        private_copy: open a private copy of the shard (in a temporary folder): an Edge shard
            folder can be opened by one process only, and the packaged one must stay untouched
            (several workers, a re-index from the same model, ``bentoml serve`` next to a test).
    """
    from recsys.retrieval.qdrant_edge import EdgeRetriever

    if bundle.kind == ITEM_ITEM:
        raise BundleError(
            f"{bundle.path} is an item-item bundle ({bundle.manifest.get('model')}): its vectors have one dimension per item "
            f"({bundle.dim}), so it has no Edge index; serve it with RECSYS_SERVE=\"retriever=exact\""
        )
    source = bundle.edge_index
    if not source.exists():
        raise FileNotFoundError(f"{source}: the bundle has no Edge index; package the run again with recsys-package")
    path = source
    if private_copy:
        path = Path(tempfile.mkdtemp(prefix="recsys-edge-")) / "edge"
        shutil.copytree(source, path)
    return EdgeRetriever(path, dim=bundle.dim, hnsw_ef=hnsw_ef, exact=exact, acorn_max_selectivity=acorn_max_selectivity)


def qdrant_server_retriever(bundle: ServingBundle, url: str, alias: str = "recsys", hnsw_ef: int = 128, exact: bool = False) -> Retriever:
    """A Qdrant server by URL: the bundle is indexed into ``<alias>-<version>`` and the alias switched.

    ``url=":memory:"`` uses qdrant-client's local mode (the same client API without a server).
    """
    from qdrant_client import QdrantClient

    from recsys.retrieval.qdrant_server import QdrantServerRetriever, index_collection

    client = QdrantClient(location=":memory:") if url == ":memory:" else QdrantClient(url=url)
    version = bundle.version.replace(":", "-")
    if not client.collection_exists(f"{alias}-{version}"):  # a restarted service reuses its collection
        index_collection(client, alias, version, bundle.item_vectors, bundle.payload())
    return QdrantServerRetriever(client, alias, dim=bundle.dim, hnsw_ef=hnsw_ef, exact=exact)
