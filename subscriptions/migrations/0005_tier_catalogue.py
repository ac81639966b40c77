"""The tier catalogue (DOMAIN.md §3): credits per month and list price per user per month. Superusers edit it in
the admin; a subscription takes the highest `rank` among its sources."""

from decimal import Decimal

from django.db import migrations

TIERS = [
    ("PRO", "Pro", 1_000, Decimal("20.00"), 10),
    ("PRO_PLUS", "Pro+", 2_000, Decimal("40.00"), 20),
    ("PRO_MAX", "Pro Max", 5_000, Decimal("100.00"), 30),
    ("POWER", "Power", 10_000, Decimal("200.00"), 40),
]


def seed(apps, schema_editor):
    Tier = apps.get_model("subscriptions", "Tier")
    for code, name, credits, price, rank in TIERS:
        Tier.objects.update_or_create(
            code=code, defaults={"name": name, "monthly_credits": credits, "price": price, "rank": rank}
        )


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0004_subscriptions")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
