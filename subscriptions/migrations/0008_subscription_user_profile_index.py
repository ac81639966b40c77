"""The (user) index of subscriptions grows into (user, profile), which still serves every look-up by user. The Users
tab walks the directory's users by name and looks up each one's subscription in the profile; SQLite compares the
profile without an index there (see selectors.Unindexed), so with the profile in this index it reads the comparison
from the index instead of each subscription's row: a deep page (OFFSET 24,950) skips a quarter faster (issue 6,
bench/subscriptions_pages.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0007_overage_caps")]

    operations = [
        migrations.RemoveIndex(model_name="subscription", name="subscription_user_idx"),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(fields=["user", "profile"], name="subscription_user_idx"),
        ),
    ]
