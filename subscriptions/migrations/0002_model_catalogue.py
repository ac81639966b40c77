"""The model catalogue (DOMAIN.md §3): credit multipliers relative to Auto. Superusers edit it in the admin."""

from decimal import Decimal

from django.db import migrations

MODELS = [
    ("auto", "Auto", Decimal("1.00")),
    ("claude-sonnet-4.5", "Claude Sonnet 4.5", Decimal("1.30")),
    ("claude-opus-4.5", "Claude Opus 4.5", Decimal("2.20")),
    ("claude-haiku-4.5", "Claude Haiku 4.5", Decimal("0.40")),
]


def seed(apps, schema_editor):
    AiModel = apps.get_model("subscriptions", "AiModel")
    for position, (code, name, multiplier) in enumerate(MODELS):
        AiModel.objects.update_or_create(
            code=code, defaults={"name": name, "credit_multiplier": multiplier, "position": position}
        )


class Migration(migrations.Migration):
    dependencies = [("subscriptions", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
