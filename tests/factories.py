from __future__ import annotations

import factory
from django.contrib.auth.models import Group

from accounts.models import AccountKind, AwsAccount, IdentityCenterInstance, InstanceKind, Region
from kiroconsole.audit import Actor
from kiroconsole.models import ApiToken, AuditEvent, User
from kiroconsole.services import new_secret
from subscriptions.models import Profile
from subscriptions.services import profile_create

PASSWORD = "correct horse battery staple"


class ConsoleUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """Use `ApiTokenFactory.create_with_raw(...)` when the test needs the bearer value."""

    class Meta:
        model = ApiToken

    user = factory.SubFactory(ConsoleUserFactory)
    name = factory.Sequence(lambda n: f"token {n}")
    prefix = "kiro_xxxxxx"
    token_hash = factory.Sequence(lambda n: f"{n:064x}")

    @classmethod
    def create_with_raw(cls, **kwargs) -> tuple[ApiToken, str]:
        raw, prefix, digest = new_secret("kiro_")
        return cls.create(prefix=prefix, token_hash=digest, **kwargs), raw


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    source = "web"
    actor_type = "user"
    actor_label = factory.Sequence(lambda n: f"person{n}")
    action = "thing.change"
    target_type = "thing"
    target_id = factory.Sequence(str)
    target_label = factory.Sequence(lambda n: f"Thing {n}")


# --- The organization and Kiro profiles -------------------------------------------------------------------


def region(code: str) -> Region:
    """A Region of the catalogue seeded by accounts/migrations/0002_regions.py."""
    return Region.objects.get(code=code)


class AwsAccountFactory(factory.django.DjangoModelFactory):
    """A member account; `AwsAccountFactory(management=True)` is the organization's one management account."""

    class Meta:
        model = AwsAccount
        django_get_or_create = ("account_id",)

    class Params:
        management = factory.Trait(account_id="111111111111", name="Acme (management)", kind=AccountKind.MANAGEMENT)

    account_id = factory.Sequence(lambda n: f"{200000000000 + n:012d}")
    name = factory.Sequence(lambda n: f"Member account {n:03d}")
    kind = AccountKind.MEMBER


class IdentityCenterFactory(factory.django.DjangoModelFactory):
    """An account instance in a new member account; `organization=True` is the organization instance in the
    management account (there is at most one of each per account, and one organization instance)."""

    class Meta:
        model = IdentityCenterInstance
        django_get_or_create = ("identity_store_id",)

    class Params:
        organization = factory.Trait(
            identity_store_id="d-9067a1b2c3",
            name="Acme workforce",
            account=factory.SubFactory(AwsAccountFactory, management=True),
            kind=InstanceKind.ORGANIZATION,
        )

    identity_store_id = factory.Sequence(lambda n: f"d-{0x1000000000 + n:010x}")
    name = factory.Sequence(lambda n: f"Instance {n}")
    region = factory.LazyFunction(lambda: region("us-east-1"))
    account = factory.SubFactory(AwsAccountFactory)
    kind = InstanceKind.ACCOUNT


def identity_center_for(profile_region: Region) -> IdentityCenterInstance:
    """An instance in the Region's partition: the organization instance (us-east-1) for commercial Regions, an
    account instance in us-gov-west-1 for GovCloud."""
    existing = IdentityCenterInstance.objects.filter(region__partition=profile_region.partition).first()
    if existing is not None:
        return existing
    if profile_region.is_govcloud:
        return IdentityCenterFactory(region=region("us-gov-west-1"), name="GovCloud workforce")
    return IdentityCenterFactory(organization=True)


class ProfileFactory(factory.django.DjangoModelFactory):
    """A Kiro profile created as the console creates one: through `profile_create` (so with its settings row and
    its audit event). `region` may be a code; `identity_center` defaults to an instance in the Region's
    partition."""

    class Meta:
        model = Profile

    account = factory.SubFactory(AwsAccountFactory)
    region = "us-east-1"
    identity_center = None
    name = factory.Sequence(lambda n: f"Profile {n:03d}")
    description = ""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        profile_region = kwargs.pop("region")
        if isinstance(profile_region, str):
            profile_region = region(profile_region)
        identity_center = kwargs.pop("identity_center") or identity_center_for(profile_region)
        return profile_create(
            region=profile_region, identity_center=identity_center, actor=Actor.for_command("test"), **kwargs
        )


class DirectoryUserFactory(factory.django.DjangoModelFactory):
    """Pass `identity_center` (see the `identity_center` fixture of tests/directory/conftest.py)."""

    class Meta:
        model = "directory.DirectoryUser"

    user_name = factory.Sequence(lambda n: f"user{n}")
    given_name = factory.Sequence(lambda n: f"Given{n}")
    family_name = "Tester"
    display_name = factory.LazyAttribute(lambda o: f"{o.given_name} {o.family_name}")
    email = factory.LazyAttribute(lambda o: f"{o.user_name}@example.com")


class DirectoryGroupFactory(factory.django.DjangoModelFactory):
    """Pass `identity_center`."""

    class Meta:
        model = "directory.DirectoryGroup"

    display_name = factory.Sequence(lambda n: f"Group {n}")
