"""The AWS Region catalogue (DOMAIN.md §2).

Kiro profiles: us-east-1, eu-central-1, us-gov-east-1, us-gov-west-1 only. Identity Center instances: any
commercial Region that is not opt-in, and the GovCloud Regions (our rule, as Amazon Q Developer documents).
Re-running the migration's function updates the rows, so a later migration can call it with a longer list.
"""

from django.db import migrations

KIRO_PROFILE_REGIONS = {"us-east-1", "eu-central-1", "us-gov-east-1", "us-gov-west-1"}

# (code, name, partition, opt_in)
REGIONS = [
    ("us-east-1", "US East (N. Virginia)", "aws", False),
    ("us-east-2", "US East (Ohio)", "aws", False),
    ("us-west-1", "US West (N. California)", "aws", False),
    ("us-west-2", "US West (Oregon)", "aws", False),
    ("ca-central-1", "Canada (Central)", "aws", False),
    ("ca-west-1", "Canada West (Calgary)", "aws", True),
    ("mx-central-1", "Mexico (Central)", "aws", True),
    ("sa-east-1", "South America (São Paulo)", "aws", False),
    ("eu-central-1", "Europe (Frankfurt)", "aws", False),
    ("eu-central-2", "Europe (Zurich)", "aws", True),
    ("eu-west-1", "Europe (Ireland)", "aws", False),
    ("eu-west-2", "Europe (London)", "aws", False),
    ("eu-west-3", "Europe (Paris)", "aws", False),
    ("eu-north-1", "Europe (Stockholm)", "aws", False),
    ("eu-south-1", "Europe (Milan)", "aws", True),
    ("eu-south-2", "Europe (Spain)", "aws", True),
    ("af-south-1", "Africa (Cape Town)", "aws", True),
    ("il-central-1", "Israel (Tel Aviv)", "aws", True),
    ("me-south-1", "Middle East (Bahrain)", "aws", True),
    ("me-central-1", "Middle East (UAE)", "aws", True),
    ("ap-east-1", "Asia Pacific (Hong Kong)", "aws", True),
    ("ap-east-2", "Asia Pacific (Taipei)", "aws", True),
    ("ap-south-1", "Asia Pacific (Mumbai)", "aws", False),
    ("ap-south-2", "Asia Pacific (Hyderabad)", "aws", True),
    ("ap-northeast-1", "Asia Pacific (Tokyo)", "aws", False),
    ("ap-northeast-2", "Asia Pacific (Seoul)", "aws", False),
    ("ap-northeast-3", "Asia Pacific (Osaka)", "aws", False),
    ("ap-southeast-1", "Asia Pacific (Singapore)", "aws", False),
    ("ap-southeast-2", "Asia Pacific (Sydney)", "aws", False),
    ("ap-southeast-3", "Asia Pacific (Jakarta)", "aws", True),
    ("ap-southeast-4", "Asia Pacific (Melbourne)", "aws", True),
    ("ap-southeast-5", "Asia Pacific (Malaysia)", "aws", True),
    ("ap-southeast-6", "Asia Pacific (New Zealand)", "aws", True),
    ("ap-southeast-7", "Asia Pacific (Thailand)", "aws", True),
    ("us-gov-east-1", "AWS GovCloud (US-East)", "aws-us-gov", False),
    ("us-gov-west-1", "AWS GovCloud (US-West)", "aws-us-gov", False),
]


def seed_regions(apps, schema_editor):
    Region = apps.get_model("accounts", "Region")
    for code, name, partition, opt_in in REGIONS:
        Region.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "partition": partition,
                "opt_in": opt_in,
                "kiro_profiles": code in KIRO_PROFILE_REGIONS,
                "identity_center": not opt_in,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(seed_regions, migrations.RunPython.noop)]
