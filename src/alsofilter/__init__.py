"""alsofilter: find mislabeled examples with ALSO weights and Beta mixtures.

``alsofilter.find_label_issues(images, labels, ...)`` is the one-line API, and
``alsofilter.rank_label_issues(scores, labels, ...)`` its scoring layer over a score one already
has (:mod:`alsofilter.api`); the Snakemake pipeline's stages are :mod:`alsofilter.stages`.
"""
from __future__ import annotations

__all__ = ["find_label_issues", "rank_label_issues"]


def __getattr__(name: str):
    # PEP 562: the API (and with it torch) is imported on first use, so that the Snakefile's
    # ``import alsofilter.config`` stays light (a dry run plans without loading torch).
    if name in __all__:
        import alsofilter.api

        return getattr(alsofilter.api, name)
    raise AttributeError(f"module 'alsofilter' has no attribute {name!r}")
