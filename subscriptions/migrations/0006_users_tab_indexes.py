"""Indexes for a profile's pages at 100,000 subscriptions. The Users tab sorted by status, subscribed or last active
(then id): a page walks the index and stops after 50 rows instead of sorting the profile's subscriptions; the
(profile, status) index grows into (profile, status, subscribed_at, id), which still serves every (profile, status)
look-up. Sorting by user name needs none: the page walks the directory's (identity center, user name) index. The
profile page counts subscriptions per tier and status from the (profile, status, tier, next tier, date) index alone."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0005_tier_catalogue")]

    operations = [
        migrations.RemoveIndex(model_name="subscription", name="subscription_status_idx"),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(fields=["profile", "status", "subscribed_at", "id"], name="subscription_status_idx"),
        ),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(fields=["profile", "subscribed_at", "id"], name="subscription_subscribed_idx"),
        ),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(fields=["profile", "last_active_at", "id"], name="subscription_last_active_idx"),
        ),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(
                fields=["profile", "status", "tier", "next_tier", "next_tier_from"], name="subscription_tier_counts_idx"
            ),
        ),
    ]
