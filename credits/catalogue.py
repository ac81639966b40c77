"""The tier and model catalogues as the metering path reads them: per process, for at most a minute.

Every usage event needs the model codes (to check its model) and the tiers (allowances); both change rarely, by a
superuser in the admin. Saving or deleting one clears this process's copy at once; other processes (other gunicorn
workers, other app servers) pick the change up within `TTL` seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db.models.signals import post_delete, post_save

from subscriptions.models import AiModel, Tier

TTL = 60.0
_lock = threading.Lock()
_cache: dict[str, tuple[float, Any]] = {}


def _cached(name: str, load) -> Any:
    now = time.monotonic()
    entry = _cache.get(name)
    if entry is not None and now - entry[0] < TTL:
        return entry[1]
    value = load()
    with _lock:
        _cache[name] = (now, value)
    return value


def model_codes() -> frozenset[str]:
    """The codes of the active models."""
    return _cached("models", lambda: frozenset(AiModel.objects.filter(active=True).values_list("code", flat=True)))


def tiers() -> dict[str, Tier]:
    return _cached("tiers", lambda: {tier.code: tier for tier in Tier.objects.all()})


def clear(**kwargs: Any) -> None:
    with _lock:
        _cache.clear()


for _model in (AiModel, Tier):
    post_save.connect(clear, sender=_model, dispatch_uid=f"credits.catalogue.{_model.__name__}.save")
    post_delete.connect(clear, sender=_model, dispatch_uid=f"credits.catalogue.{_model.__name__}.delete")
