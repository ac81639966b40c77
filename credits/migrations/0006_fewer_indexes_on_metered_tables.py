"""Fewer indexes on the tables metering writes with every event (see the note above the rollups in
credits/models.py): the foreign keys' own indexes where a unique constraint or an index leads with the column, and
the user's on the rollups, whose every read names the profile too.

Only the indexes are dropped: on SQLite, Django's AlterField would copy each table (twice for two fields) to
change nothing else; DROP INDEX is instant on both databases, and the model state follows separately."""

import django.db.models.deletion
from django.db import migrations, models

# (table, column, index name): Django's names for a foreign key's index, the same on SQLite and PostgreSQL.
DROPPED = [
    ("credits_usageevent", "profile_id", "credits_usageevent_profile_id_e097dfd5"),
    ("credits_usageevent", "subscription_id", "credits_usageevent_subscription_id_6d5b4f28"),
    ("credits_balance", "subscription_id", "credits_balance_subscription_id_6bdb714e"),
    ("credits_dailyusage", "profile_id", "credits_dailyusage_profile_id_555110d5"),
    ("credits_dailyusage", "user_id", "credits_dailyusage_user_id_ba8e8e98"),
    ("credits_monthlyusage", "profile_id", "credits_monthlyusage_profile_id_60f87327"),
    ("credits_monthlyusage", "user_id", "credits_monthlyusage_user_id_0154e54d"),
    ("credits_usermonthlyusage", "profile_id", "credits_usermonthlyusage_profile_id_65adeedd"),
    ("credits_usermonthlyusage", "user_id", "credits_usermonthlyusage_user_id_20f943b3"),
    ("credits_profiledailyusage", "profile_id", "credits_profiledailyusage_profile_id_36d5988c"),
    ("credits_groupdailyusage", "profile_id", "credits_groupdailyusage_profile_id_7c42790a"),
    ("credits_activeuser", "profile_id", "credits_activeuser_profile_id_a6682107"),
    ("credits_activeuser", "user_id", "credits_activeuser_user_id_ea8dd051"),
    ("credits_activeusercount", "profile_id", "credits_activeusercount_profile_id_3786f7be"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('credits', '0005_group_daily_usage'),
        ('directory', '0005_user_name_index_with_id'),
        ('subscriptions', '0010_subscription_user_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"', reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")'
                )
                for table, column, name in DROPPED
            ],
            state_operations=[
            migrations.AlterField(
                model_name='activeuser',
                name='profile',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='subscriptions.profile'),
            ),
            migrations.AlterField(
                model_name='activeuser',
                name='user',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='directory.directoryuser'),
            ),
            migrations.AlterField(
                model_name='activeusercount',
                name='profile',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='subscriptions.profile'),
            ),
            migrations.AlterField(
                model_name='balance',
                name='subscription',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='balances', to='subscriptions.subscription'),
            ),
            migrations.AlterField(
                model_name='dailyusage',
                name='profile',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='subscriptions.profile'),
            ),
            migrations.AlterField(
                model_name='dailyusage',
                name='user',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='directory.directoryuser'),
            ),
            migrations.AlterField(
                model_name='groupdailyusage',
                name='profile',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='subscriptions.profile'),
            ),
            migrations.AlterField(
                model_name='monthlyusage',
                name='profile',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='subscriptions.profile'),
            ),
            migrations.AlterField(
                model_name='monthlyusage',
                name='user',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='directory.directoryuser'),
            ),
            migrations.AlterField(
                model_name='profiledailyusage',
                name='profile',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='subscriptions.profile'),
            ),
            migrations.AlterField(
                model_name='usageevent',
                name='profile',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='usage_events', to='subscriptions.profile'),
            ),
            migrations.AlterField(
                model_name='usageevent',
                name='subscription',
                field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='usage_events', to='subscriptions.subscription'),
            ),
            migrations.AlterField(
                model_name='usermonthlyusage',
                name='profile',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='subscriptions.profile'),
            ),
            migrations.AlterField(
                model_name='usermonthlyusage',
                name='user',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='directory.directoryuser'),
            ),
            ],
        ),
    ]
