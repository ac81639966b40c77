"""Write services of the subscriptions app (STYLE.md "Writes go through services"): profiles and their settings
(`profiles`), subscriptions and group assignments (`subscribing`), and the set-based recomputation that both the
services and the directory's signals use (`propagation`)."""

from subscriptions.services.profiles import *  # noqa: F403
from subscriptions.services.profiles import __all__ as _profiles
from subscriptions.services.subscribing import *  # noqa: F403
from subscriptions.services.subscribing import __all__ as _subscribing

__all__ = [*_profiles, *_subscribing]
