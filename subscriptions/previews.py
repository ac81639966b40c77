"""What a subscription change will do, said before it is made (the dialogs' tier cards and confirmations), and what
it did, said after (the message built from the services' `Changes`). Both follow the rules the services apply
(DOMAIN.md §4): the highest source wins, an upgrade applies now, a downgrade from the 1st, losing every source
cancels with access until the 1st."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils import formats
from django.utils.text import get_text_list

from subscriptions.billing import CENTS
from subscriptions.calendar import next_month_start
from subscriptions.models import Subscription, SubscriptionStatus, Tier
from subscriptions.services.propagation import Changes

NAMES_SHOWN = 3  # up to this many user names in a message, else a count


def day(moment: datetime.datetime) -> str:
    """A date as the pages write it: 1 December 2026."""
    return formats.date_format(moment, "j F Y")


def people(names: Sequence[str], noun: str = "user") -> str:
    """'ann', 'ann and bob', 'ann, bob and cat' or '12 users'."""
    if len(names) <= NAMES_SHOWN:
        return get_text_list(sorted(names, key=str.lower), "and")
    return f"{len(names):,} {noun}s"


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@dataclass
class TierCard:
    """One tier as a dialog offers it: credits, price (GovCloud multiplier applied) and, in the change-plan dialogs,
    what choosing it does (`effect`) and who keeps more through another source (`warning`)."""

    tier: Tier
    unit_price: Decimal
    effect: str = ""
    detail: str = ""
    warning: str = ""
    direction: str = ""  # "up", "down", "same" or "mixed": how the card marks the effect
    current: bool = False

    @property
    def code(self) -> str:
        return self.tier.code


def tier_cards(tiers: Iterable[Tier], multiplier: Decimal) -> list[TierCard]:
    return [TierCard(tier=tier, unit_price=(tier.price * multiplier).quantize(CENTS)) for tier in tiers]


def source_rank(subscription: Subscription, ranks: dict[str, int]) -> int:
    """The highest tier rank the user's assigned groups give (0: none), from `profile_subscriptions`' prefetch."""
    memberships = subscription.user.assigned_memberships  # type: ignore[attr-defined]
    return max((ranks[m.source_tier] for m in memberships), default=0)


def _counts(up: int, down: int, same: int, first: datetime.datetime, noun: str) -> tuple[str, str]:
    """(text, direction) for how many move up now, down on the 1st, or stay."""
    parts = []
    if up:
        parts.append(f"{count(up, noun)} move{'s' if up == 1 else ''} up now")
    if down:
        parts.append(f"{count(down, noun)} move{'s' if down == 1 else ''} down on {day(first)}")
    if same:
        parts.append(f"{count(same, noun)} unchanged")
    kinds = [kind for kind, n in (("up", up), ("down", down), ("same", same)) if n]
    direction = kinds[0] if len(kinds) == 1 else "mixed" if kinds else "same"
    return (" · ".join(parts) + ".") if parts else "", direction


def _effect(card: TierCard, up: int, down: int, same: int, first: datetime.datetime, noun: str, one: bool) -> None:
    """Say what choosing the card does: for a single user in words, else counted."""
    if one and up + down + same == 1:
        if up:
            card.direction, card.effect = "up", "Upgrade: applies now."
        elif down:
            when = day(first)
            card.direction, card.effect = "down", f"Downgrade: from {when}; the current tier stays until then."
        else:
            card.direction, card.effect = "same", "No change of tier."
        return
    text, card.direction = _counts(up, down, same, first, noun)
    card.effect = (text[0].upper() + text[1:]) if text else "No change of tier."


def preview_user_plans(
    cards: list[TierCard],
    subscriptions: Iterable[Subscription],
    ranks: dict[str, int],
    names: dict[str, str],
    now: datetime.datetime,
) -> list[TierCard]:
    """Say on each card what setting the users' direct tier to it does (`subscription_change_plan`): each user gets
    the highest of that tier and its groups' tiers, up now or down on the 1st. `names`: tier names by code."""
    live = [s for s in subscriptions if s.status != SubscriptionStatus.CANCELED]
    first = next_month_start(now)
    by_rank = {rank: code for code, rank in ranks.items()}
    for card in cards:
        up = down = same = 0
        kept: list[tuple[str, int]] = []
        for subscription in live:
            groups = source_rank(subscription, ranks)
            target = max(card.tier.rank, groups)
            now_rank = ranks[subscription.effective_tier_id(now)]
            up += target > now_rank
            down += target < now_rank
            same += target == now_rank
            if groups > card.tier.rank:
                kept.append((subscription.user.user_name, groups))
        _effect(card, up, down, same, first, "user", one=len(live) == 1)
        card.current = {s.effective_tier_id(now) for s in live} == {card.code}
        if len(kept) == 1:
            name, rank = kept[0]
            card.warning = f"{name} keeps {names[by_rank[rank]]} through a group: the highest source wins."
        elif kept:
            card.warning = f"{count(len(kept), 'user')} keep a higher tier through their groups."
    return cards


def preview_group_plans(
    cards: list[TierCard], sources: Counter, current: Tier, now: datetime.datetime
) -> list[TierCard]:
    """Say on each card whether moving an assigned group to it is an upgrade (now) or a downgrade (from the 1st),
    and what it does to its members (`selectors.member_sources`: live subscriptions counted by (rank now, highest
    other source))."""
    first = next_month_start(now)
    for card in cards:
        card.current = card.tier.code == current.code
        up = down = same = kept = 0
        for (now_rank, other), n in sources.items():
            target = max(card.tier.rank, other)
            up += n * (target > now_rank)
            down += n * (target < now_rank)
            same += n * (target == now_rank)
            kept += n * (other > card.tier.rank)
        if card.current:
            card.direction, card.effect = "same", "The group's tier now."
            continue
        if card.tier.rank > current.rank:
            card.direction, card.effect = "up", "Upgrade: applies to its members now."
        else:
            card.direction = "down"
            card.effect = f"Downgrade: from {day(first)}; members keep {current.name} until then."
        card.detail, _ = _counts(up, down, same, first, "member")
        card.detail = f"Its subscribed members: {card.detail}" if card.detail else "No subscribed members yet."
        if kept:
            card.warning = f"{count(kept, 'member')} keep{'s' if kept == 1 else ''} a higher tier from another source."
    return cards


def subscribe_effect(
    subscription: Subscription | None, tier: Tier, ranks: dict[str, int], names: dict[str, str], now: datetime.datetime
) -> str:
    """What subscribing one user directly at `tier` does to it (`subscription_subscribe`), for the confirmation."""
    first = next_month_start(now)
    if subscription is None:
        return f"New subscription at {tier.name}: Pending until the first use of Kiro."
    if subscription.status == SubscriptionStatus.CANCELED:
        if subscription.has_access(now):
            return "Canceled this month: reactivated, with its groups counting again."
        return f"Subscribed again at {tier.name}: Pending until the first use of Kiro."
    groups = source_rank(subscription, ranks)
    target, now_rank = max(tier.rank, groups), ranks[subscription.effective_tier_id(now)]
    by_rank = {rank: code for code, rank in ranks.items()}
    if target > now_rank:
        return f"Upgraded to {names[by_rank[target]]} now."
    if target < now_rank:
        current = names[subscription.effective_tier_id(now)]
        return f"Moves down to {names[by_rank[target]]} on {day(first)}; keeps {current} until then."
    if groups > tier.rank:
        return f"Keeps {names[by_rank[groups]]} through a group: the highest source wins."
    return f"Already at {tier.name}: no change of tier."


@dataclass
class UnassignPreview:
    canceled: int = 0  # no other source: canceled, access until the 1st
    down: int = 0  # another source gives less: that tier from the 1st
    same: int = 0  # another source gives as much or more


def preview_unassign(sources: Counter) -> UnassignPreview:
    preview = UnassignPreview()
    for (now_rank, other), n in sources.items():
        if other == 0:
            preview.canceled += n
        elif other < now_rank:
            preview.down += n
        else:
            preview.same += n
    return preview


def describe_changes(
    changes: Changes,
    *,
    tier: Tier | None,
    first: datetime.datetime,
    higher: int = 0,
    noun: str = "user",
    start: bool = True,
) -> str:
    """A sentence for a message: what a service changed (`Changes`), e.g. "Subscribed 12 users at Pro; 2 already
    had a higher tier." `first`: the 1st downgrades and cancellations take effect; `higher`: how many of the users
    asked for keep a higher tier from another source. `start`: the sentence starts the message (else it follows a
    colon); a user name that starts it keeps its case."""
    at = f" at {tier.name}" if tier else ""
    to = f" to {tier.name}" if tier else ""
    parts: list[tuple[str, bool]] = []  # (clause, whether it starts with a word of ours)
    if changes.subscribed:
        parts.append((f"subscribed {people(changes.subscribed, noun)}{at}", True))
    if changes.reactivated:
        parts.append((f"reactivated {people(changes.reactivated, noun)}{at}", True))
    if changes.upgraded:
        parts.append((f"upgraded {people(changes.upgraded, noun)}{to} now", True))
    if changes.downgrade_scheduled:
        names = changes.downgrade_scheduled
        verb = "moves" if len(names) == 1 else "move"
        parts.append((f"{people(names, noun)} {verb} down{to} on {day(first)}", len(names) > NAMES_SHOWN))
    if changes.downgrade_undone:
        parts.append((f"canceled the pending downgrade of {people(changes.downgrade_undone, noun)}", True))
    if changes.canceled:
        parts.append((f"unsubscribed {people(changes.canceled, noun)}: access until {day(first)}", True))
    if higher:
        parts.append((f"{count(higher, noun)} already had a higher tier", True))
    if not parts:
        parts.append(("nothing changed: every subscription was already so", True))
    sentence = "; ".join(clause for clause, _ in parts) + "."
    if start and parts[0][1]:
        sentence = sentence[0].upper() + sentence[1:]
    return sentence
