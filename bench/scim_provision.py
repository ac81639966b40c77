"""scim_provision: 10,000 users provisioned by SCIM one POST at a time, as an identity provider's first sync does,
through the WSGI application (kiroconsole.wsgi: the whole middleware stack, token authentication, validation, the
directory service and its audit event, one request after the other); requests per second.

Then the SCIM requests of a provisioning cycle, each timed on the directory of 10,000 users, against the
cheapest authenticated SCIM request (GET /ServiceProviderConfig) as the baseline.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.harness import BenchError, Context, Operation, p50, p95, register

USERS = 10_000
IDENTITY_STORE_ID = "d-bec5c10001"
ACCOUNT_ID = "999999990002"
BENCH_ACTOR = "bench scim_provision"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GIVEN = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Tim", "Radia", "Linus"]
FAMILY = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Berners"]


def identity_center() -> Any:
    """The bench's own directory (other benchmarks' directories are left alone), created through the services."""
    from accounts import services
    from accounts.models import AwsAccount, IdentityCenterInstance, Region
    from kiroconsole.audit import Actor

    instance = IdentityCenterInstance.objects.filter(identity_store_id=IDENTITY_STORE_ID).first()
    if instance is not None:
        return instance
    actor = Actor.for_command(BENCH_ACTOR)
    account = AwsAccount.objects.filter(account_id=ACCOUNT_ID).first() or services.aws_account_create(
        account_id=ACCOUNT_ID, name="Bench SCIM account", kind="member", actor=actor
    )
    return services.identity_center_create(
        identity_store_id=IDENTITY_STORE_ID,
        name="Bench SCIM workforce",
        region=Region.objects.get(code="us-east-1"),
        account=account,
        kind="account",
        actor=actor,
    )


def empty(instance: Any) -> None:
    """The bench directory's users, groups and tokens, and their audit events: every run starts from nothing, and
    the audit_log bench finds its table as it left it."""
    from django.db import connection, transaction

    from directory.models import DirectoryGroup, DirectoryUser, GroupMembership, ScimToken
    from kiroconsole.models import AuditEvent

    quote = connection.ops.quote_name
    token_ids = [str(pk) for pk in ScimToken.objects.filter(identity_center=instance).values_list("pk", flat=True)]
    with transaction.atomic(), connection.cursor() as cursor:
        events = quote(AuditEvent._meta.db_table)
        if token_ids:
            marks = ", ".join(["%s"] * len(token_ids))
            cursor.execute(f"DELETE FROM {events} WHERE source = 'scim' AND actor_token_id IN ({marks})", token_ids)  # noqa: S608
            cursor.execute(
                f"DELETE FROM {events} WHERE target_type = 'scimtoken' AND target_id IN ({marks})",  # noqa: S608
                token_ids,
            )
        cursor.execute(f"DELETE FROM {events} WHERE actor_label = %s", [f"manage.py {BENCH_ACTOR}"])  # noqa: S608
    GroupMembership.objects.filter(group__identity_center=instance).delete()
    DirectoryGroup.objects.filter(identity_center=instance).delete()
    DirectoryUser.objects.filter(identity_center=instance).delete()
    ScimToken.objects.filter(identity_center=instance).delete()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for model in (DirectoryUser, AuditEvent):
                cursor.execute(f"VACUUM ANALYZE {quote(model._meta.db_table)}")
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class Wsgi:
    """Requests straight into the WSGI application, as a WSGI server (gunicorn) hands them over, with the token."""

    def __init__(self, raw_token: str):
        from kiroconsole.wsgi import application

        self.application = application
        self.token = raw_token

    def __call__(self, method: str, path: str, body: Any = None, expect: int = 200) -> dict[str, Any]:
        path, _, query = path.partition("?")
        data = json.dumps(body).encode() if body is not None else b""
        environ = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "testserver",
            "HTTP_AUTHORIZATION": f"Bearer {self.token}",
            "CONTENT_TYPE": "application/scim+json" if body is not None else "",
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(data),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        started: list[str] = []

        def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
            started[:] = [status]
            return lambda _: None

        result = self.application(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        status = int(started[0].split()[0])
        if status != expect:
            raise BenchError(f"{method} {path}?{query} answered {status}, not {expect}: {content[:300]!r}")
        return json.loads(content) if content else {}


def new_user(i: int) -> dict[str, Any]:
    """The i-th user, as Okta creates it."""
    given, family = GIVEN[i % len(GIVEN)], FAMILY[(i // len(GIVEN)) % len(FAMILY)]
    login = f"{given}.{family}.{i:05d}@bench.example".lower()
    return {
        "schemas": [USER_SCHEMA],
        "userName": login,
        "name": {"givenName": given, "familyName": family},
        "displayName": f"{given} {family}",
        "emails": [{"primary": True, "value": login, "type": "work"}],
        "externalId": f"00u{i:017d}",
        "active": True,
    }


@register(
    "scim_provision",
    f"{USERS:,} users provisioned by SCIM one POST at a time through the WSGI app: requests/s",
    minutes=10,
    quick=("--users", "200"),
)
def run(ctx: Context) -> None:
    from directory import services
    from directory.models import DirectoryUser
    from kiroconsole.audit import Actor

    count = ctx.users or USERS
    instance = identity_center()
    empty(instance)
    _, raw = services.scim_token_create(identity_center=instance, actor=Actor.for_command(BENCH_ACTOR))
    scim = Wsgi(raw)
    scim("GET", "/scim/v2/Users", expect=200)  # warm the application (middleware, URL resolver)

    latencies, cpu_started = [], time.process_time()
    with ctx.phase(f"provisioning {count:,} users, one POST /scim/v2/Users at a time") as phase:
        for i in range(count):
            started = time.perf_counter()
            scim("POST", "/scim/v2/Users", new_user(i), expect=201)
            latencies.append(time.perf_counter() - started)
    cpu_seconds = time.process_time() - cpu_started
    stored = DirectoryUser.objects.live().filter(identity_center=instance).count()
    if stored != count:
        raise BenchError(f"{stored:,} users in the directory after {count:,} POSTs")
    rate = count / phase["seconds"]
    ctx.note("provisioned", f"{count:,} users in {phase['seconds']:.1f} s ({cpu_seconds:.1f} s CPU)")
    ctx.note(
        "requests/s",
        f"{rate:,.0f} POST /Users a second, one at a time (p50 {p50(latencies) * 1000:.2f} ms, "
        f"p95 {p95(latencies) * 1000:.2f} ms, {cpu_seconds / count * 1000:.2f} ms CPU each)",
    )

    # One request of each kind of a provisioning cycle, on the directory of `count` users.
    extra = iter(range(count, count + 1_000_000))
    target = new_user(count // 2)["userName"]
    some_id = DirectoryUser.objects.filter(identity_center=instance, user_name=target).values_list("pk", flat=True)[0]
    flip = iter(range(1_000_000))

    def deactivate_or_activate() -> None:
        value = next(flip) % 2 == 1
        body = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": value}}]}
        if scim("PATCH", f"/scim/v2/Users/{some_id}", body)["active"] is not value:
            raise BenchError("PATCH active did not change the user")

    def find() -> None:
        if scim("GET", f"/scim/v2/Users?filter=userName%20eq%20%22{target}%22")["totalResults"] != 1:
            raise BenchError(f"the filter did not find {target}")

    def page() -> None:
        if scim("GET", f"/scim/v2/Users?startIndex={count // 2}&count=100")["itemsPerPage"] != min(100, count):
            raise BenchError("the page does not hold 100 users")

    ctx.run(
        [
            Operation("(a) GET /ServiceProviderConfig", lambda: scim("GET", "/scim/v2/ServiceProviderConfig"), True),
            Operation(
                "(b) POST /Users (a new user)", lambda: scim("POST", "/scim/v2/Users", new_user(next(extra)), 201)
            ),
            Operation("(c) GET /Users?filter=userName eq", find),
            Operation("(d) GET /Users a page of 100", page),
            Operation("(e) PATCH /Users/{id} active", deactivate_or_activate),
        ],
        title=f"scim_provision: SCIM requests on a directory of {count:,} users",
    )
    print(f"\nprovisioned {count:,} users one POST at a time: {rate:,.0f} requests/s")
    ctx.record(
        f"provisioning: {count:,} POST /scim/v2/Users one at a time",
        f"{rate:,.0f} requests/s, p50 {p50(latencies) * 1000:,.1f} ms, p95 {p95(latencies) * 1000:,.1f} ms",
    )
