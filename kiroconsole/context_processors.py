from kiroconsole.roles import ROLE_LABELS, Cap, has_cap, user_role


def console(request):
    """The current role and the navigation entries it may see."""
    user = getattr(request, "user", None)
    role = user_role(user)
    return {
        "console_role": role,
        "console_role_label": ROLE_LABELS.get(role, "No role") if role else "",
        "can": {cap.value: has_cap(user, cap) for cap in Cap} if role else {},
    }
