from __future__ import annotations

from django.db import connections
from django.db.models import Exists, Func, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.http import Http404

from accounts.models import IdentityCenterInstance
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership


def users() -> QuerySet[DirectoryUser]:
    return DirectoryUser.objects.live().select_related("identity_center").order_by("user_name", "pk")


def member_count() -> Subquery:
    """A group's number of members, counted for that group alone (a correlated subquery on the (group, user)
    index): a page of 50 groups counts 50 groups' memberships, not every membership of the directory. Deleting a
    user removes its memberships, so they are all live users."""
    memberships = GroupMembership.objects.filter(group=OuterRef("pk")).order_by()
    # COUNT(*), not COUNT(id): PostgreSQL then counts in the index alone (an index-only scan).
    count = Func(template="COUNT(*)", output_field=IntegerField())
    return Subquery(memberships.annotate(n=count).values("n"), output_field=IntegerField())


def groups() -> QuerySet[DirectoryGroup]:
    return (
        DirectoryGroup.objects.live()
        .select_related("identity_center")
        .annotate(member_count=member_count())
        .order_by("display_name", "pk")
    )


def groups_named_like(text: str) -> QuerySet[DirectoryGroup]:
    """Live groups whose name contains `text`, by name (the group filter's type-ahead)."""
    return (
        DirectoryGroup.objects.live()
        .filter(display_name__icontains=text)
        .select_related("identity_center")
        .order_by("display_name", "identity_center__name", "pk")
    )


# From this many members on, a page of a group's members is found by walking the users in page order and keeping
# the members (a big group fills a page within a few hundred users); below it, by reading the group's members and
# sorting them (a small group's members are few, and walking would pass most users without finding any).
BIG_GROUP = 1_000


def users_in_groups(
    queryset: QuerySet[DirectoryUser], group_ids: list, *, members: int | None = None
) -> QuerySet[DirectoryUser]:
    """The users of `queryset` who belong to one of the groups; `members`: how many the groups have, if known."""
    memberships = GroupMembership.objects.filter(group__in=group_ids)
    if members is not None and members >= BIG_GROUP:
        return queryset.filter(Exists(memberships.filter(user=OuterRef("pk"))))
    return queryset.filter(pk__in=memberships.values("user"))


# Searching users: what matches is always `icontains` on these columns. On PostgreSQL the trigram GIN indexes of
# migration 0003 serve icontains itself. On SQLite, a term of 3 characters or more first narrows the rows with the
# FTS5 trigram index of that migration (kept in step by triggers), which never misses an icontains match (it folds
# case beyond ASCII, so it may find more, which icontains then drops). Each candidate then costs a look-up by id,
# twice (count and page): when more than a fifth of the users are candidates (a mail domain), reading the whole
# table is cheaper, and one bounded query on the index tells which (bench directory_import at 100,000 users).
SEARCH_COLUMNS = ("user_name", "display_name", "email", "given_name", "family_name")
FTS_MIN_LENGTH = 3  # the trigram tokenizer matches nothing shorter
FTS_CANDIDATES = (
    "SELECT k.user_id FROM directory_user_fts f JOIN directory_user_fts_key k ON k.rowid = f.rowid "
    "WHERE directory_user_fts MATCH %s"
)
# 1 when the term's candidates are at most a fifth of the users (the key table's last rowid: users ever indexed).
FTS_NARROWS = (
    "SELECT COUNT(*) <= (SELECT IFNULL(MAX(rowid), 0) / 5 FROM directory_user_fts_key) FROM ("
    "SELECT 1 FROM directory_user_fts WHERE directory_user_fts MATCH %s "
    "LIMIT (SELECT IFNULL(MAX(rowid), 0) / 5 + 1 FROM directory_user_fts_key))"
)


def search_users(queryset: QuerySet[DirectoryUser], q: str) -> QuerySet[DirectoryUser]:
    q = q.strip()
    if not q:
        return queryset
    if "\x00" in q:  # no stored value holds a NUL; FTS5 and PostgreSQL refuse one in a query (a 500, by schemathesis)
        return queryset.none()
    contains = Q()
    for column in SEARCH_COLUMNS:
        contains |= Q(**{f"{column}__icontains": q})
    queryset = queryset.filter(contains)
    connection = connections[queryset.db]
    if connection.vendor == "sqlite" and len(q) >= FTS_MIN_LENGTH:
        phrase = '"' + q.replace('"', '""') + '"'  # one FTS5 string: the term's trigrams, in a row
        with connection.cursor() as cursor:
            cursor.execute(FTS_NARROWS, [phrase])
            (narrows,) = cursor.fetchone()
        if narrows:
            queryset = queryset.filter(pk__in=RawSQL(FTS_CANDIDATES, [phrase]))  # noqa: S611 (a parameter)  # nosec B611
    return queryset


def user_by_id(user_id) -> DirectoryUser:
    user = users().filter(pk=user_id).first()
    if user is None:
        raise Http404("No such user.")
    return user


def group_by_id(group_id) -> DirectoryGroup:
    group = groups().filter(pk=group_id).first()
    if group is None:
        raise Http404("No such group.")
    return group


def group_members(group: DirectoryGroup) -> QuerySet[DirectoryUser]:
    """The group's users; from `group_by_id`, the group knows its number of members."""
    return users_in_groups(DirectoryUser.objects.live(), [group.pk], members=getattr(group, "member_count", None))


def user_groups(user: DirectoryUser) -> QuerySet[DirectoryGroup]:
    return DirectoryGroup.objects.live().filter(memberships__user=user)


def identity_center_by_store_id(identity_store_id: str | None) -> IdentityCenterInstance | None:
    """The directory named by its identity store id, or the only one when it is left out (None if ambiguous)."""
    if identity_store_id:
        return IdentityCenterInstance.objects.filter(identity_store_id=identity_store_id).first()
    instances = list(IdentityCenterInstance.objects.all()[:2])
    return instances[0] if len(instances) == 1 else None


def membership_exists(group: DirectoryGroup, user: DirectoryUser) -> bool:
    return GroupMembership.objects.filter(group=group, user=user).exists()
