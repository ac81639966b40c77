"""The directory services (DOMAIN.md §2): the rules every entry point shares, tested once here at the service level.

Validation messages, uniqueness per directory (case-insensitive, live rows only), soft delete, the signals the
apps above the directory rely on (sent once per operation, with exactly what changed, inside the transaction) and
the audit trail.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404

from directory import selectors, services, signals
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from kiroconsole.audit import Actor
from kiroconsole.errors import ConflictError
from kiroconsole.models import AuditEvent
from tests.factories import DirectoryGroupFactory, DirectoryUserFactory

ACTOR = Actor.for_command("test")
REQUIRED = {
    "user_name": "Enter a user name.",
    "display_name": "Enter a display name.",
    "given_name": "Enter a given name.",
    "family_name": "Enter a family name.",
    "email": "Enter an email.",
}
LIMITS = {"user_name": 128, "display_name": 256, "given_name": 128, "family_name": 128, "external_id": 256}


def ada(**changes) -> dict:
    data = {
        "user_name": "ada",
        "display_name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "ada@example.com",
    }
    return data | changes


def create_user(identity_center, **changes) -> DirectoryUser:
    return services.directory_user_create(identity_center=identity_center, actor=ACTOR, **ada(**changes))


def member_of(group, *users) -> None:
    """Set-up: put users in a group directly (no audit event, no signal)."""
    GroupMembership.objects.bulk_create([GroupMembership(group=group, user=user) for user in users])


def members(group) -> set:
    return set(GroupMembership.objects.filter(group=group).values_list("user_id", flat=True))


def directory_events():
    """The audit events of the directory (the fixtures' account and Identity Center have their own)."""
    return AuditEvent.objects.filter(action__startswith="directory_")


def errors_of(excinfo) -> dict[str, list[str]]:
    return excinfo.value.message_dict


@pytest.fixture
def people(identity_center):
    return [DirectoryUserFactory(identity_center=identity_center, user_name=n) for n in ("ann", "bob", "cem", "dia")]


@pytest.fixture
def group(identity_center):
    return DirectoryGroupFactory(identity_center=identity_center, display_name="Engineers")


# --- Validation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "message"), REQUIRED.items())
def test_each_required_user_attribute_left_out_is_refused_with_its_message(identity_center, field, message):
    data = ada()
    del data[field]
    with pytest.raises(ValidationError) as excinfo:
        services.directory_user_create(identity_center=identity_center, actor=ACTOR, **data)
    assert errors_of(excinfo) == {field: [message]}
    assert not DirectoryUser.objects.exists()


@pytest.mark.parametrize(("field", "message"), REQUIRED.items())
def test_each_required_user_attribute_blank_is_refused_with_its_message(identity_center, field, message):
    with pytest.raises(ValidationError) as excinfo:
        create_user(identity_center, **{field: "   "})
    assert errors_of(excinfo) == {field: [message]}


def test_every_bad_attribute_is_reported_at_once(identity_center):
    with pytest.raises(ValidationError) as excinfo:
        create_user(identity_center, user_name="ada lovelace", given_name="", email="nope")
    assert errors_of(excinfo) == {
        "user_name": ["A user name has no spaces."],
        "given_name": ["Enter a given name."],
        "email": ["'nope' is not a valid email address."],
    }


@pytest.mark.parametrize(("field", "limit"), LIMITS.items())
def test_user_attributes_over_their_length_limit_are_refused(identity_center, field, limit):
    with pytest.raises(ValidationError) as excinfo:
        create_user(identity_center, **{field: "x" * (limit + 1)})
    assert errors_of(excinfo) == {field: [f"Use at most {limit} characters (it has {limit + 1})."]}


@pytest.mark.parametrize(("field", "limit"), LIMITS.items())
def test_user_attributes_at_their_length_limit_are_accepted(identity_center, field, limit):
    user = create_user(identity_center, **{field: "x" * limit})
    user.refresh_from_db()
    assert getattr(user, field) == "x" * limit


def test_an_email_over_254_characters_is_refused_for_its_length(identity_center):
    email = "a" * 243 + "@example.com"  # 255
    with pytest.raises(ValidationError) as excinfo:
        create_user(identity_center, email=email)
    assert errors_of(excinfo) == {"email": ["Use at most 254 characters (it has 255)."]}


@pytest.mark.parametrize("user_name", ["ada lovelace", "ada\u00a0lovelace"])
def test_a_user_name_has_no_spaces(identity_center, user_name):
    with pytest.raises(ValidationError) as excinfo:
        create_user(identity_center, user_name=user_name)
    assert errors_of(excinfo) == {"user_name": ["A user name has no spaces."]}


@pytest.mark.parametrize("email", ["not-an-email", "ada@", "ada@example", "ada@@example.com"])
def test_a_bad_email_is_refused_naming_it(identity_center, email):
    with pytest.raises(ValidationError) as excinfo:
        create_user(identity_center, email=email)
    assert errors_of(excinfo) == {"email": [f"{email!r} is not a valid email address."]}


@pytest.mark.parametrize("field", ["user_name", "display_name", "given_name", "family_name", "email", "external_id"])
@pytest.mark.parametrize("bad", ["ada\x00", "ad\x1b[31ma", "ad\ta", "ada\x7f"])
def test_control_characters_in_a_user_attribute_are_refused(identity_center, field, bad):
    with pytest.raises(ValidationError) as excinfo:
        create_user(identity_center, **{field: bad})
    assert errors_of(excinfo) == {field: ["Remove the control characters."]}


def test_an_unknown_user_attribute_is_refused(identity_center):
    with pytest.raises(ValidationError) as excinfo:
        create_user(identity_center, nickname="Countess")
    assert errors_of(excinfo) == {"nickname": ["There is no such attribute."]}


def test_active_must_be_true_or_false(identity_center):
    with pytest.raises(ValidationError) as excinfo:
        create_user(identity_center, active="no")
    assert errors_of(excinfo) == {"active": ["Use true or false."]}


def test_user_values_are_trimmed(identity_center):
    user = create_user(identity_center, user_name="  ada ", display_name=" Ada Lovelace\n")
    user.refresh_from_db()
    assert (user.user_name, user.display_name) == ("ada", "Ada Lovelace")


def test_an_update_is_validated_like_a_creation_and_changes_nothing_when_refused(identity_center):
    user = create_user(identity_center)
    with pytest.raises(ValidationError) as excinfo:
        services.directory_user_update(user=user, actor=ACTOR, email="not-an-email", family_name="")
    assert errors_of(excinfo) == {
        "email": ["'not-an-email' is not a valid email address."],
        "family_name": ["Enter a family name."],
    }
    user.refresh_from_db()
    assert (user.email, user.family_name) == ("ada@example.com", "Lovelace")
    assert not AuditEvent.objects.filter(action="directory_user.update").exists()


def test_a_group_needs_a_display_name(identity_center):
    with pytest.raises(ValidationError) as excinfo:
        services.directory_group_create(identity_center=identity_center, actor=ACTOR)
    assert errors_of(excinfo) == {"display_name": ["Enter a display name."]}
    with pytest.raises(ValidationError) as excinfo:
        services.directory_group_create(identity_center=identity_center, display_name="  ", actor=ACTOR)
    assert errors_of(excinfo) == {"display_name": ["Enter a display name."]}
    assert not DirectoryGroup.objects.exists()


@pytest.mark.parametrize(("field", "limit"), [("display_name", 128), ("description", 1024), ("external_id", 256)])
def test_group_attributes_over_their_length_limit_are_refused(identity_center, field, limit):
    data = {"display_name": "Engineers", field: "x" * (limit + 1)}
    with pytest.raises(ValidationError) as excinfo:
        services.directory_group_create(identity_center=identity_center, actor=ACTOR, **data)
    assert errors_of(excinfo) == {field: [f"Use at most {limit} characters (it has {limit + 1})."]}


def test_a_group_description_may_have_several_lines_but_no_other_control_characters(identity_center):
    group = services.directory_group_create(
        identity_center=identity_center, display_name="Engineers", description="Line one\r\nLine two\tend", actor=ACTOR
    )
    assert group.description == "Line one\r\nLine two\tend"
    with pytest.raises(ValidationError) as excinfo:
        services.directory_group_update(group=group, description="bell\x07", actor=ACTOR)
    assert errors_of(excinfo) == {"description": ["Remove the control characters."]}
    with pytest.raises(ValidationError) as excinfo:
        services.directory_group_update(group=group, display_name="Eng\x00", actor=ACTOR)
    assert errors_of(excinfo) == {"display_name": ["Remove the control characters."]}


# --- Uniqueness per directory ---------------------------------------------------------------------------------


def test_a_user_name_is_unique_in_its_directory_whatever_its_case(identity_center):
    create_user(identity_center, user_name="Ada")
    with pytest.raises(ConflictError) as excinfo:
        create_user(identity_center, user_name="ADA", email="other@example.com")
    assert errors_of(excinfo) == {"user_name": ["The user name 'ADA' is already taken in this directory."]}
    assert DirectoryUser.objects.count() == 1


def test_an_email_is_unique_in_its_directory_whatever_its_case(identity_center):
    create_user(identity_center)
    with pytest.raises(ConflictError) as excinfo:
        create_user(identity_center, user_name="ada2", email="ADA@Example.COM")
    assert errors_of(excinfo) == {
        "email": ["The email 'ADA@Example.COM' is already used by another user in this directory."]
    }


def test_both_clashes_are_reported_together(identity_center):
    create_user(identity_center)
    with pytest.raises(ConflictError) as excinfo:
        create_user(identity_center, user_name="Ada")
    assert set(errors_of(excinfo)) == {"user_name", "email"}


def test_renaming_a_user_onto_another_users_name_or_email_is_a_conflict(identity_center):
    create_user(identity_center)
    bob = create_user(identity_center, user_name="bob", email="bob@example.com")
    with pytest.raises(ConflictError) as excinfo:
        services.directory_user_update(user=bob, user_name="ADA", actor=ACTOR)
    assert errors_of(excinfo) == {"user_name": ["The user name 'ADA' is already taken in this directory."]}
    with pytest.raises(ConflictError):
        services.directory_user_update(user=bob, email="Ada@example.com", actor=ACTOR)
    bob.refresh_from_db()
    assert (bob.user_name, bob.email) == ("bob", "bob@example.com")


def test_a_user_may_change_the_case_of_its_own_name_and_email(identity_center):
    user = create_user(identity_center)
    services.directory_user_update(user=user, user_name="Ada", email="Ada@Example.com", actor=ACTOR)
    user.refresh_from_db()
    assert (user.user_name, user.email) == ("Ada", "Ada@Example.com")


def test_the_same_user_name_and_email_are_allowed_in_another_directory(identity_center, second_identity_center):
    create_user(identity_center)
    other = create_user(second_identity_center, user_name="ADA", email="ADA@example.com")
    assert other.identity_center == second_identity_center


def test_the_user_name_and_email_of_a_deleted_user_are_free_again(identity_center):
    gone = create_user(identity_center)
    services.directory_user_delete(user=gone, actor=ACTOR)
    again = create_user(identity_center, user_name="ADA")
    assert again.pk != gone.pk
    assert DirectoryUser.objects.filter(user_name__iexact="ada").count() == 2


def test_the_database_refuses_a_second_live_user_name_in_another_case(identity_center):
    DirectoryUserFactory(identity_center=identity_center, user_name="ada", email="a@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        DirectoryUserFactory(identity_center=identity_center, user_name="ADA", email="b@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        DirectoryUserFactory(identity_center=identity_center, user_name="bob", email="A@EXAMPLE.COM")


def test_a_group_name_is_unique_in_its_directory_whatever_its_case(identity_center, group):
    with pytest.raises(ConflictError) as excinfo:
        services.directory_group_create(identity_center=identity_center, display_name="ENGINEERS", actor=ACTOR)
    assert errors_of(excinfo) == {"display_name": ["A group named 'ENGINEERS' already exists in this directory."]}
    other = services.directory_group_create(identity_center=identity_center, display_name="Designers", actor=ACTOR)
    with pytest.raises(ConflictError) as excinfo:
        services.directory_group_update(group=other, display_name="engineers", actor=ACTOR)
    assert errors_of(excinfo) == {"display_name": ["A group named 'engineers' already exists in this directory."]}
    other.refresh_from_db()
    assert other.display_name == "Designers"


def test_a_group_name_is_free_in_another_directory_and_after_the_group_is_deleted(
    identity_center, second_identity_center, group
):
    services.directory_group_create(identity_center=second_identity_center, display_name="engineers", actor=ACTOR)
    services.directory_group_delete(group=group, actor=ACTOR)
    again = services.directory_group_create(identity_center=identity_center, display_name="ENGINEERS", actor=ACTOR)
    assert again.pk != group.pk


# --- Soft delete -------------------------------------------------------------------------------------------------


def test_deleting_a_user_hides_it_keeps_the_row_and_removes_its_memberships(identity_center, people, group):
    ann, bob = people[:2]
    member_of(group, ann, bob)
    services.directory_user_delete(user=ann, actor=ACTOR)
    ann.refresh_from_db()
    assert ann.deleted_at is not None
    assert list(DirectoryUser.objects.live().filter(pk=ann.pk)) == []
    assert members(group) == {bob.pk}
    with pytest.raises(Http404):
        selectors.user_by_id(ann.pk)


def test_deleting_a_group_hides_it_and_removes_its_memberships_but_not_the_users(identity_center, people, group):
    member_of(group, *people)
    services.directory_group_delete(group=group, actor=ACTOR)
    group.refresh_from_db()
    assert group.deleted_at is not None
    assert not GroupMembership.objects.exists()
    assert DirectoryUser.objects.live().count() == 4
    with pytest.raises(Http404):
        selectors.group_by_id(group.pk)


def test_deleting_a_deleted_user_again_does_nothing(identity_center, received):
    user = create_user(identity_center)
    services.directory_user_delete(user=user, actor=ACTOR)
    received.clear()
    services.directory_user_delete(user=user, actor=ACTOR)
    assert AuditEvent.objects.filter(action="directory_user.delete").count() == 1
    assert received["users_deleted"] == []


def test_a_deleted_user_can_not_be_added_to_a_group(identity_center, people, group):
    services.directory_user_delete(user=people[0], actor=ACTOR)
    people[0].refresh_from_db()
    with pytest.raises(ValidationError) as excinfo:
        services.group_members_add(group=group, users=[people[0]], actor=ACTOR)
    assert errors_of(excinfo) == {"members": ["ann is not a user of this group's directory."]}
    assert members(group) == set()


# --- Memberships and their signal ---------------------------------------------------------------------------------


def test_adding_members_sends_memberships_changed_once_with_every_added_pair(identity_center, people, group, received):
    ann, bob, cem, _ = people
    assert services.group_members_add(group=group, users=[ann, bob, cem], actor=ACTOR) == 3
    [sent] = received["memberships_changed"]
    assert sent["added"] == [(group.pk, ann.pk), (group.pk, bob.pk), (group.pk, cem.pk)]
    assert sent["removed"] == []
    assert sent["identity_center"] == identity_center
    assert sent["actor"] == ACTOR
    assert members(group) == {ann.pk, bob.pk, cem.pk}


def test_adding_members_reports_only_the_users_not_already_in_the_group(identity_center, people, group, received):
    ann, bob, cem, _ = people
    member_of(group, ann)
    assert services.group_members_add(group=group, users=[ann, bob, bob, cem], actor=ACTOR) == 2
    [sent] = received["memberships_changed"]
    assert sent["added"] == [(group.pk, bob.pk), (group.pk, cem.pk)]
    assert AuditEvent.objects.filter(action="directory_group.member_add").count() == 2


def test_adding_an_existing_member_sends_nothing_and_writes_nothing(identity_center, people, group, received):
    member_of(group, people[0])
    assert services.group_members_add(group=group, users=[people[0]], actor=ACTOR) == 0
    assert received["memberships_changed"] == []
    assert not directory_events().exists()


def test_removing_members_sends_memberships_changed_once_with_only_the_removed_pairs(
    identity_center, people, group, received
):
    ann, bob, cem, dia = people
    member_of(group, ann, bob, cem)
    assert services.group_members_remove(group=group, users=[ann, cem, dia], actor=ACTOR) == 2
    [sent] = received["memberships_changed"]
    assert sent["added"] == []
    assert sorted(sent["removed"]) == sorted([(group.pk, ann.pk), (group.pk, cem.pk)])
    assert members(group) == {bob.pk}


def test_removing_a_non_member_sends_nothing_and_writes_nothing(identity_center, people, group, received):
    member_of(group, people[0])
    assert services.group_members_remove(group=group, users=[people[1]], actor=ACTOR) == 0
    assert received["memberships_changed"] == []
    assert not directory_events().exists()
    assert members(group) == {people[0].pk}


def test_a_user_of_another_directory_can_not_join_a_group(identity_center, second_identity_center, group, received):
    stranger = DirectoryUserFactory(identity_center=second_identity_center, user_name="zed")
    local = DirectoryUserFactory(identity_center=identity_center, user_name="ann")
    with pytest.raises(ValidationError) as excinfo:
        services.group_members_add(group=group, users=[local, stranger], actor=ACTOR)
    assert errors_of(excinfo) == {"members": ["zed is not a user of this group's directory."]}
    assert members(group) == set()
    assert received["memberships_changed"] == []


def test_deleting_a_user_announces_all_its_memberships_once_then_the_deletion(identity_center, people, received):
    ann, bob = people[:2]
    engineers = DirectoryGroupFactory(identity_center=identity_center, display_name="Engineers")
    designers = DirectoryGroupFactory(identity_center=identity_center, display_name="Designers")
    member_of(engineers, ann, bob)
    member_of(designers, ann)
    order: list[str] = []
    signals.memberships_changed.connect(lambda **kw: order.append("memberships_changed"), weak=False, dispatch_uid="o1")
    signals.users_deleted.connect(lambda **kw: order.append("users_deleted"), weak=False, dispatch_uid="o2")
    try:
        services.directory_user_delete(user=ann, actor=ACTOR)
    finally:
        signals.memberships_changed.disconnect(dispatch_uid="o1")
        signals.users_deleted.disconnect(dispatch_uid="o2")
    [sent] = received["memberships_changed"]
    assert sent["added"] == []
    assert sorted(sent["removed"]) == sorted([(engineers.pk, ann.pk), (designers.pk, ann.pk)])
    [deleted] = received["users_deleted"]
    assert deleted["user_ids"] == [ann.pk]
    assert deleted["identity_center"] == identity_center
    assert order == ["memberships_changed", "users_deleted"]


def test_deleting_a_user_in_no_group_sends_only_users_deleted(identity_center, people, received):
    services.directory_user_delete(user=people[0], actor=ACTOR)
    assert received["memberships_changed"] == []
    assert [s["user_ids"] for s in received["users_deleted"]] == [[people[0].pk]]


def test_deleting_a_group_announces_all_its_memberships_once_then_the_deletion(
    identity_center, people, group, received
):
    member_of(group, *people)
    services.directory_group_delete(group=group, actor=ACTOR)
    [sent] = received["memberships_changed"]
    assert sent["added"] == []
    assert sorted(sent["removed"]) == sorted((group.pk, p.pk) for p in people)
    assert [s["group_ids"] for s in received["groups_deleted"]] == [[group.pk]]


def test_deleting_an_empty_group_sends_only_groups_deleted(identity_center, group, received):
    services.directory_group_delete(group=group, actor=ACTOR)
    assert received["memberships_changed"] == []
    assert len(received["groups_deleted"]) == 1


def test_receivers_see_the_change_already_written(identity_center, people, group):
    seen = []

    def look(sender, added, removed, **kwargs):
        seen.append(GroupMembership.objects.filter(group=group).count())

    signals.memberships_changed.connect(look, weak=False, dispatch_uid="look")
    try:
        services.group_members_add(group=group, users=people, actor=ACTOR)
        services.group_members_remove(group=group, users=people[:3], actor=ACTOR)
    finally:
        signals.memberships_changed.disconnect(dispatch_uid="look")
    assert seen == [4, 1]


# --- Activation ---------------------------------------------------------------------------------------------------


def test_deactivating_and_reactivating_a_user_send_users_activation_changed(identity_center, received):
    user = create_user(identity_center)
    services.directory_user_update(user=user, active=False, actor=ACTOR)
    services.directory_user_update(user=user, active=True, actor=ACTOR)
    sent = received["users_activation_changed"]
    assert [(s["user_ids"], s["active"]) for s in sent] == [([user.pk], False), ([user.pk], True)]
    assert sent[0]["identity_center"] == identity_center


def test_other_changes_do_not_send_users_activation_changed(identity_center, received):
    user = create_user(identity_center)
    services.directory_user_update(user=user, display_name="Countess Lovelace", active=True, actor=ACTOR)
    services.directory_user_update(user=user, active=True, actor=ACTOR)
    assert received["users_activation_changed"] == []


# --- Atomicity: a receiver that fails undoes the change ---------------------------------------------------------


class Boom(Exception):
    pass


@pytest.fixture
def failing_receivers():
    def fail(**kwargs):
        raise Boom("a receiver failed")

    all_signals = [signals.memberships_changed, signals.users_deleted, signals.users_activation_changed]
    all_signals.append(signals.groups_deleted)
    for signal in all_signals:
        signal.connect(fail, weak=False, dispatch_uid="test-fail")
    yield
    for signal in all_signals:
        signal.disconnect(dispatch_uid="test-fail")


def test_a_failing_receiver_rolls_back_added_members_and_their_audit(identity_center, people, group, failing_receivers):
    with pytest.raises(Boom):
        services.group_members_add(group=group, users=people, actor=ACTOR)
    assert members(group) == set()
    assert not directory_events().exists()


def test_a_failing_receiver_rolls_back_removed_members(identity_center, people, group, failing_receivers):
    member_of(group, *people)
    with pytest.raises(Boom):
        services.group_members_remove(group=group, users=people, actor=ACTOR)
    assert members(group) == {p.pk for p in people}
    assert not directory_events().exists()


def test_a_failing_receiver_rolls_back_a_user_deletion(identity_center, people, group, failing_receivers):
    member_of(group, people[0])
    with pytest.raises(Boom):
        services.directory_user_delete(user=people[0], actor=ACTOR)
    assert DirectoryUser.objects.live().filter(pk=people[0].pk).exists()
    assert members(group) == {people[0].pk}
    assert not directory_events().exists()


def test_a_failing_receiver_rolls_back_a_user_deletion_without_memberships(identity_center, people, failing_receivers):
    with pytest.raises(Boom):
        services.directory_user_delete(user=people[0], actor=ACTOR)  # users_deleted fails
    assert DirectoryUser.objects.live().filter(pk=people[0].pk).exists()


def test_a_failing_receiver_rolls_back_a_group_deletion(identity_center, people, group, failing_receivers):
    member_of(group, *people)
    with pytest.raises(Boom):
        services.directory_group_delete(group=group, actor=ACTOR)
    assert DirectoryGroup.objects.live().filter(pk=group.pk).exists()
    assert members(group) == {p.pk for p in people}


def test_a_failing_receiver_rolls_back_a_deactivation(identity_center, people, failing_receivers):
    ann = people[0]
    name = ann.display_name
    with pytest.raises(Boom):
        services.directory_user_update(user=ann, active=False, display_name="Gone", actor=ACTOR)
    ann.refresh_from_db()
    assert (ann.active, ann.display_name) == (True, name)
    assert not directory_events().exists()


# --- Audit -------------------------------------------------------------------------------------------------------


def test_creating_a_user_is_audited_with_its_values(identity_center):
    user = create_user(identity_center, external_id="00u1")
    event = AuditEvent.objects.get(action="directory_user.create")
    assert (event.source, event.actor_label, event.target_type, event.target_id) == (
        "command",
        "manage.py test",
        "directoryuser",
        str(user.pk),
    )
    assert event.before is None
    assert event.after == {
        "identity_center": str(identity_center.pk),
        "user_name": "ada",
        "display_name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "ada@example.com",
        "external_id": "00u1",
        "active": True,
    }


def test_changing_a_user_is_audited_with_before_and_after(identity_center):
    user = create_user(identity_center)
    services.directory_user_update(user=user, display_name="Countess Lovelace", active=False, actor=ACTOR)
    event = AuditEvent.objects.get(action="directory_user.update")
    assert sorted(event.changes) == [("active", True, False), ("display_name", "Ada Lovelace", "Countess Lovelace")]


def test_an_update_that_changes_nothing_is_not_audited(identity_center):
    user = create_user(identity_center)
    services.directory_user_update(user=user, display_name="Ada Lovelace", actor=ACTOR)
    assert not AuditEvent.objects.filter(action="directory_user.update").exists()


def test_deleting_a_user_is_audited_with_its_last_values(identity_center):
    user = create_user(identity_center)
    services.directory_user_delete(user=user, actor=ACTOR)
    event = AuditEvent.objects.get(action="directory_user.delete")
    assert event.after is None
    assert event.before["user_name"] == "ada"
    assert event.target_id == str(user.pk)


def test_membership_changes_are_audited_on_the_group_one_event_per_user(identity_center, people, group):
    ann, bob = people[:2]
    services.group_members_add(group=group, users=[ann, bob], actor=ACTOR)
    services.group_members_remove(group=group, users=[bob], actor=ACTOR)
    added = AuditEvent.objects.filter(action="directory_group.member_add").order_by("after__user")
    assert [(e.target_id, e.before, e.after) for e in added] == [
        (str(group.pk), None, {"user": "ann", "user_id": str(ann.pk)}),
        (str(group.pk), None, {"user": "bob", "user_id": str(bob.pk)}),
    ]
    [removed] = AuditEvent.objects.filter(action="directory_group.member_remove")
    assert (removed.before, removed.after) == ({"user": "bob", "user_id": str(bob.pk)}, None)


def test_group_changes_are_audited(identity_center, people):
    group = services.directory_group_create(identity_center=identity_center, display_name="Eng", actor=ACTOR)
    services.directory_group_update(group=group, display_name="Engineers", description="All of us", actor=ACTOR)
    member_of(group, *people[:3])
    services.directory_group_delete(group=group, actor=ACTOR)
    create, update, delete = (
        AuditEvent.objects.get(action=f"directory_group.{verb}") for verb in ("create", "update", "delete")
    )
    assert create.after["display_name"] == "Eng"
    assert sorted(update.changes) == [("description", "", "All of us"), ("display_name", "Eng", "Engineers")]
    assert delete.before["display_name"] == "Engineers"
    assert delete.before["members"] == 3


def test_an_edit_of_name_and_activity_announces_the_rename_before_the_activation(identity_center):
    """The rename's receivers lock every profile of the directory in id order, the activation's some of them: sent
    in this order (the user import's too), one edit takes the profiles in one order."""
    order: list[str] = []

    def renamed(sender, **kwargs):
        order.append("renamed")

    def activation(sender, **kwargs):
        order.append("activation")

    signals.users_renamed.connect(renamed, weak=False, dispatch_uid="test-order-renamed")
    signals.users_activation_changed.connect(activation, weak=False, dispatch_uid="test-order-activation")
    try:
        user = DirectoryUserFactory(identity_center=identity_center, user_name="ann")
        services.directory_user_update(user=user, actor=ACTOR, user_name="ann.renamed", active=False)
    finally:
        signals.users_renamed.disconnect(dispatch_uid="test-order-renamed")
        signals.users_activation_changed.disconnect(dispatch_uid="test-order-activation")
    assert order == ["renamed", "activation"]
