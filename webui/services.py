"""The services every session shares, created once by ``app.py`` and handed to the page."""

from __future__ import annotations

import dataclasses

from serving.admission import Admission
from serving.heap import limit_heap_growth
from serving.image_store import ArrayStore

from .gradio_private import still_queued
from .settings import Settings


@dataclasses.dataclass(frozen=True)
class Services:
    """Settings plus the shared image store and admission gate (tests pass their own)."""

    settings: Settings
    images: ArrayStore  # every session's kept x*, x̂0 and ground truth, within one RAM budget
    admission: Admission  # who may queue another heavy job

    @classmethod
    def create(cls, settings: Settings) -> "Services":
        """The production services: a store of ``settings.image_memory`` bytes, admission by its limits.

        Also sets the process's allocator to give large freed blocks back (``serving.heap``)."""
        limit_heap_growth()
        return cls(
            settings=settings,
            images=ArrayStore(settings.image_memory),
            admission=Admission(per_session=settings.max_jobs_per_session,
                                per_client=settings.max_jobs_per_client, waiting=still_queued),
        )
