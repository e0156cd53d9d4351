"""Logging of the pipeline's jobs."""
from __future__ import annotations

import logging


def setup_logging(log_path: str | None) -> None:
    """Log to the rule's log file (and stderr when there is none)."""
    handlers = [logging.FileHandler(log_path, mode="w")] if log_path else [logging.StreamHandler()]
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")



