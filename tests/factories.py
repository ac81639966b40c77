from __future__ import annotations

import factory
from django.contrib.auth.models import Group

from kiroconsole.models import ApiToken, AuditEvent, User
from kiroconsole.services import new_secret

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
