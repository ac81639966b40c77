"""The audit trail: who did what, when, from where, with the values before and after.

Every service takes an `actor` and records its change with `audit_record` (or `audit_record_many` for set
work) inside its own transaction, so a change and its audit event are written together or not at all.
Entry points build the actor: `Actor.from_request` (pages and admin), `Actor.for_api_token` (JSON API),
`Actor.for_scim_token` (SCIM), `Actor.for_command` (management commands).
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from kiroconsole.bulk import adapter, insert_rows
from kiroconsole.models import ActorType, AuditEvent, Source


@dataclass(frozen=True)
class Actor:
    source: str
    actor_type: str
    label: str
    user: Any = None
    token_id: str = ""
    remote_addr: str | None = None

    @classmethod
    def from_request(cls, request, source: str = Source.WEB, user: Any = None) -> Actor:
        """The console user of a page or admin request (or `user`, when the request has none yet)."""
        if user is None:
            current = getattr(request, "user", None)
            user = current if current is not None and current.is_authenticated else None
        return cls(
            source=source,
            actor_type=ActorType.USER if user else ActorType.SYSTEM,
            label=user.get_username() if user else "anonymous",
            user=user,
            remote_addr=client_ip(request),
        )

    @classmethod
    def for_api_token(cls, request, token) -> Actor:
        return cls(
            source=Source.API,
            actor_type=ActorType.API_TOKEN,
            label=f"{token.user.get_username()} (API token {token.prefix}…)",
            user=token.user,
            token_id=str(token.pk),
            remote_addr=client_ip(request),
        )

    @classmethod
    def for_scim_token(cls, request, token) -> Actor:
        return cls(
            source=Source.SCIM,
            actor_type=ActorType.SCIM_TOKEN,
            label=f"SCIM token {token.prefix}…",
            token_id=str(token.pk),
            remote_addr=client_ip(request),
        )

    @classmethod
    def for_command(cls, name: str) -> Actor:
        return cls(source=Source.COMMAND, actor_type=ActorType.COMMAND, label=f"manage.py {name}")

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(source=Source.SYSTEM, actor_type=ActorType.SYSTEM, label=label)


def client_ip(request) -> str | None:
    """The peer address. Behind a proxy, have the proxy set REMOTE_ADDR (see README, production)."""
    return request.META.get("REMOTE_ADDR") or None


def jsonable(value: Any) -> Any:
    if value is None or type(value) in (str, int, bool, float):  # the common case, ahead of the ABC checks
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return str(value.pk)
    return value


class EncodedJson(str):
    """A `before` or `after` already encoded as JSON, for set work that writes many events of one shape
    (`audit_record_many` stores it as it is; encode it with `json.dumps` of plain values)."""

    __slots__ = ()


def snapshot(instance: models.Model, fields: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> dict:
    """The concrete field values of a model instance, ready to store as `before` or `after`."""
    excluded = set(exclude)
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.name in excluded:
            continue
        data[field.name] = jsonable(field.value_from_object(instance))
    return data


def _target(target: Any) -> tuple[str, str, str]:
    if isinstance(target, models.Model):
        return target._meta.model_name or "", str(target.pk), str(target)[:255]
    target_type, target_id, label = target
    return str(target_type), str(target_id), str(label)[:255]


def _build(actor: Actor, action: str, target: Any, before: Any, after: Any, at=None) -> AuditEvent:
    target_type, target_id, target_label = _target(target)
    return AuditEvent(
        occurred_at=at or timezone.now(),
        source=actor.source,
        actor_type=actor.actor_type,
        actor_user=actor.user if getattr(actor.user, "pk", None) else None,
        actor_label=actor.label[:200],
        actor_token_id=actor.token_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        before=jsonable(before) if before is not None else None,
        after=jsonable(after) if after is not None else None,
        remote_addr=actor.remote_addr,
    )


def audit_record(*, actor: Actor, action: str, target: Any, before: Any = None, after: Any = None) -> AuditEvent:
    """Record one change. `target` is a model instance or a (type, id, label) tuple."""
    event = _build(actor, action, target, before, after)
    event.save()
    return event


def _encoded(value: Any, to_json: Callable[[Any], Any]) -> Any:
    if value is None or type(value) is EncodedJson:
        return value
    return to_json(jsonable(value))


# audit_record_many writes rows as tuples: the columns every event of one call shares, then the event's own.
_SHARED_COLUMNS = ("occurred_at", "source", "actor_type", "actor_user", "actor_label", "actor_token_id", "remote_addr")
_EVENT_COLUMNS = ("action", "target_type", "target_id", "target_label", "before", "after")
_COLUMNS = (*_SHARED_COLUMNS, *_EVENT_COLUMNS)


def audit_record_many(*, actor: Actor, entries: Iterable[tuple[str, Any, Any, Any]], batch_size: int = 2000) -> int:
    """Record many changes in bulk: `entries` yields (action, target, before, after). Returns the count.

    Set work (imports, a group's fan-out) records up to hundreds of thousands of events, so they are written as
    plain rows (kiroconsole.bulk), a batch at a time, with the values that they share converted once: several
    times faster than an AuditEvent instance per event and bulk_create. The rows hold what `audit_record` writes."""
    shared_event = _build(actor, "", ("", "", ""), None, None, at=timezone.now())
    attnames = {name: AuditEvent._meta.get_field(name).attname for name in _SHARED_COLUMNS}  # type: ignore[union-attr]
    shared = tuple(adapter(AuditEvent, name)(getattr(shared_event, attnames[name])) for name in _SHARED_COLUMNS)
    to_json = adapter(AuditEvent, "after")
    count = 0
    batch: list[tuple] = []
    with transaction.atomic(savepoint=False):
        for action, target, before, after in entries:
            batch.append(
                (
                    *shared,
                    action,
                    *_target(target),
                    _encoded(before, to_json),
                    _encoded(after, to_json),
                )
            )
            if len(batch) >= batch_size:
                insert_rows(AuditEvent, _COLUMNS, batch)
                count += len(batch)
                batch = []
        insert_rows(AuditEvent, _COLUMNS, batch)
        count += len(batch)
    return count
