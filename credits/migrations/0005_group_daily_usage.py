"""`GroupDailyUsage`: usage per day of each group's current members (users in no group under the nil UUID),
filled from the daily per-user rows and the memberships, set-based."""

import django.db.models.deletion
from django.db import migrations, models

NO_GROUP_KEY = "00000000-0000-0000-0000-000000000000"
SUMS = ("plan_hundredths", "overage_hundredths", "messages", "events")


def fill(apps, schema_editor):
    import uuid

    connection = schema_editor.connection
    quote = connection.ops.quote_name
    g = apps.get_model("credits", "GroupDailyUsage")
    d = apps.get_model("credits", "DailyUsage")
    m = apps.get_model("directory", "GroupMembership")
    keys = ", ".join(f"d.{quote(c)}" for c in ("profile_id", "day", "client_type", "model", "tier_id"))
    sums = ", ".join(f"SUM(d.{quote(c)})" for c in SUMS)
    target = ", ".join(quote(c) for c in ("profile_id", "day", "client_type", "model", "tier_id", "group_key", *SUMS))
    daily, members = quote(d._meta.db_table), quote(m._meta.db_table)
    head = f"INSERT INTO {quote(g._meta.db_table)} ({target}) SELECT {keys}, "  # nosec B608
    no_group = g._meta.get_field("group_key").get_db_prep_save(uuid.UUID(NO_GROUP_KEY), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{head}m.group_id, {sums} FROM {daily} d JOIN {members} m ON m.user_id = d.user_id "
            f"GROUP BY {keys}, m.group_id"
        )
        cursor.execute(
            f"{head}%s, {sums} FROM {daily} d WHERE NOT EXISTS "
            f"(SELECT 1 FROM {members} m WHERE m.user_id = d.user_id) GROUP BY {keys}",
            [no_group],
        )


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0004_usage_indexes'),
        ('directory', '0005_user_name_index_with_id'),
        ('subscriptions', '0010_subscription_user_name'),
    ]

    operations = [
        migrations.CreateModel(
            name='GroupDailyUsage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('plan_hundredths', models.BigIntegerField(default=0)),
                ('overage_hundredths', models.BigIntegerField(default=0)),
                ('messages', models.BigIntegerField(default=0)),
                ('events', models.BigIntegerField(default=0)),
                ('group_key', models.UUIDField()),
                ('day', models.DateField()),
                ('client_type', models.CharField(choices=[('KIRO_IDE', 'Kiro IDE'), ('KIRO_CLI', 'Kiro CLI')], max_length=16)),
                ('model', models.CharField(max_length=64)),
                ('profile', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='subscriptions.profile')),
                ('tier', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='subscriptions.tier')),
            ],
            options={
                'indexes': [models.Index(fields=['profile', 'day'], name='group_daily_usage_day_idx')],
                'constraints': [models.UniqueConstraint(fields=('profile', 'group_key', 'day', 'client_type', 'model', 'tier'), name='group_daily_usage_unique')],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
