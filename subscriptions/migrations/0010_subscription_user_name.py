"""`Subscription.user_name`: the user's name kept on each subscription, filled from the directory in one UPDATE,
and the (profile, user name, user) index the Users tab's order (and the admin's) reads."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_user_names(apps, schema_editor):
    Subscription = apps.get_model("subscriptions", "Subscription")
    DirectoryUser = apps.get_model("directory", "DirectoryUser")
    name = DirectoryUser.objects.filter(pk=OuterRef("user_id")).values("user_name")[:1]
    Subscription.objects.using(schema_editor.connection.alias).update(user_name=Subquery(name))


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0005_user_name_index_with_id"),
        ("subscriptions", "0009_tier_counts_index_with_updated_at"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="subscription",
            options={"ordering": ["profile", "user_name", "user"]},
        ),
        migrations.AddField(
            model_name="subscription",
            name="user_name",
            field=models.CharField(default="", editable=False, max_length=128, verbose_name="user name"),
        ),
        migrations.RunPython(copy_user_names, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(fields=["profile", "user_name", "user"], name="subscription_user_name_idx"),
        ),
    ]
