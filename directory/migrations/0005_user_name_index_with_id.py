"""The (identity center, user name) index grows into (identity center, user name, id), which still serves every
look-up it served. A profile's Users tab lists subscriptions by user name, ties by user id, and walks this index to
do so: with the id in it, the index gives that whole order (SQLite no longer sorts the rows of each user name, so a
deep page skips its OFFSET without reading them), and a page's user ids are read from the index alone (issue 6,
bench/subscriptions_pages.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("directory", "0004_scim_tokens")]

    operations = [
        migrations.RemoveIndex(model_name="directoryuser", name="directory_user_name_idx"),
        migrations.AddIndex(
            model_name="directoryuser",
            index=models.Index(fields=["identity_center", "user_name", "id"], name="directory_user_name_idx"),
        ),
    ]
