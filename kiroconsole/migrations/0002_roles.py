"""The four roles of CONTRACTS.md as Django groups. Their model permissions are kept in step after every
migrate by kiroconsole.roles.sync_role_permissions (post_migrate), so later apps' models are covered too."""

from django.db import migrations

ROLES = ["administrator", "support", "viewer", "metering"]


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("kiroconsole", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
