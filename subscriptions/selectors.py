from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from subscriptions.models import AiModel, Profile, ProfileSettings


def profiles() -> QuerySet[Profile]:
    """Live profiles with what their pages and the API show."""
    return Profile.objects.live().select_related("account", "region", "identity_center")


def profile_by_id(profile_id: str) -> Profile:
    """The access helper for one profile: 404 for an unknown or deleted one."""
    profile = profiles().filter(profile_id=profile_id).first()
    if profile is None:
        raise Http404("No such Kiro profile.")
    return profile


def profile_by_reference(reference: str) -> Profile | None:
    """A profile by id, ARN or name (management commands accept all three)."""
    reference = reference.strip()
    if reference.startswith("arn:"):
        reference = reference.rsplit("/", 1)[-1]
    matches = list(profiles().filter(Q(profile_id=reference) | Q(name=reference))[:2])
    return matches[0] if len(matches) == 1 else None


def profile_settings(profile: Profile) -> ProfileSettings:
    return (
        ProfileSettings.objects.select_related("default_model", "profile__region", "profile__account")
        .prefetch_related("approved_models")
        .get(profile=profile)
    )


def ai_models() -> QuerySet[AiModel]:
    return AiModel.objects.filter(active=True)
