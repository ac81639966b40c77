"""What the benchmarks that build an organization of their own share: raw SQL past the append-only guards, and
the removal of everything built for one Identity Center (children first: its profiles' usage, then the
organization), so benchmarks sharing the bench database never see each other's rows. (A module name starting with
"_" registers no benchmark.)"""

from __future__ import annotations

from typing import Any


def quoted_table(model: Any) -> str:
    from django.db import connection

    return connection.ops.quote_name(model._meta.db_table)


def execute(sql: str, params: list | tuple = ()) -> int:
    """Run one statement on the bench database; the number of rows it changed."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def remove_organization(store_id: str, account_id: str, audit_labels: tuple[str, ...] = ()) -> None:
    """Delete the Identity Center `store_id` with its users, groups, memberships, profiles, their subscriptions
    and history, and the AWS account `account_id`; and the audit events of the actors named `audit_labels`."""
    from django.db import transaction

    from accounts.models import AwsAccount, IdentityCenterInstance
    from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
    from kiroconsole.bulk import adapter
    from kiroconsole.models import AuditEvent
    from subscriptions.models import GroupAssignment, Profile, ProfileSettings, Subscription, SubscriptionPeriod

    t = quoted_table
    with transaction.atomic():
        for label in audit_labels:
            execute(f"DELETE FROM {t(AuditEvent)} WHERE actor_label = %s", [label])  # noqa: S608
        instance = IdentityCenterInstance.objects.filter(identity_store_id=store_id).first()
        if instance is not None:
            ic = adapter(DirectoryUser, "identity_center")(instance.pk)
            profiles = list(Profile.objects.filter(identity_center=instance).values_list("pk", flat=True))
            for profile in profiles:
                subs = f"SELECT id FROM {t(Subscription)} WHERE profile_id = %s"  # noqa: S608
                execute(f"DELETE FROM {t(SubscriptionPeriod)} WHERE subscription_id IN ({subs})", [profile])  # noqa: S608
                execute(f"DELETE FROM {t(Subscription)} WHERE profile_id = %s", [profile])  # noqa: S608
            GroupAssignment.objects.filter(profile_id__in=profiles).delete()
            groups = f"SELECT id FROM {t(DirectoryGroup)} WHERE identity_center_id = %s"  # noqa: S608
            execute(f"DELETE FROM {t(GroupMembership)} WHERE group_id IN ({groups})", [ic])  # noqa: S608
            execute(f"DELETE FROM {t(DirectoryGroup)} WHERE identity_center_id = %s", [ic])  # noqa: S608
            execute(f"DELETE FROM {t(DirectoryUser)} WHERE identity_center_id = %s", [ic])  # noqa: S608
            ProfileSettings.objects.filter(profile_id__in=profiles).delete()
            execute(f"DELETE FROM {t(Profile)} WHERE identity_center_id = %s", [ic])  # noqa: S608
            IdentityCenterInstance.objects.filter(pk=instance.pk).delete()
        AwsAccount.objects.filter(account_id=account_id).delete()


def remove_usage(store_id: str) -> None:
    """Delete the usage of the profiles of the Identity Center `store_id`: their events, notifications, rollups and
    balances (what `remove_organization` needs gone first)."""
    from django.db import transaction

    from accounts.models import IdentityCenterInstance
    from credits.models import Balance, Notification, ProfileBalance, UsageEvent
    from credits.services.rollups import ROLLUP_MODELS
    from subscriptions.models import Profile, Subscription

    t = quoted_table
    instance = IdentityCenterInstance.objects.filter(identity_store_id=store_id).first()
    if instance is not None:
        with transaction.atomic():
            for profile in Profile.objects.filter(identity_center=instance).values_list("pk", flat=True):
                subs = f"SELECT id FROM {t(Subscription)} WHERE profile_id = %s"  # noqa: S608
                execute(f"DELETE FROM {t(UsageEvent)} WHERE profile_id = %s", [profile])  # noqa: S608
                execute(f"DELETE FROM {t(Notification)} WHERE profile_id = %s", [profile])  # noqa: S608
                for rollup in ROLLUP_MODELS:
                    execute(f"DELETE FROM {t(rollup)} WHERE profile_id = %s", [profile])  # noqa: S608
                execute(f"DELETE FROM {t(Balance)} WHERE subscription_id IN ({subs})", [profile])  # noqa: S608
                execute(f"DELETE FROM {t(ProfileBalance)} WHERE profile_id = %s", [profile])  # noqa: S608
