"""Validation of profile settings values (DOMAIN.md §6). Each returns an error message or None."""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

KMS_KEY_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-us-gov):kms:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):(?P<account>\d{12}):"
    r"key/(?P<key>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def kms_key_arn_error(value: str, *, region_code: str, partition: str) -> str | None:
    match = KMS_KEY_ARN.match(value)
    if not match:
        return (
            "Enter a KMS key ARN like arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab "
            "(a key id, not an alias)."
        )
    if match["region"] != region_code:
        return f"The key must be in the profile's Region ({region_code}); this one is in {match['region']}."
    if match["partition"] != partition:
        return f"The key's partition must be {partition}."
    return None


def bucket_name_error(value: str) -> str | None:
    """Amazon S3 general purpose bucket naming rules."""
    if not 3 <= len(value) <= 63:
        return "A bucket name has 3 to 63 characters."
    if not BUCKET_CHARS.match(value):
        return (
            "A bucket name uses lower-case letters, digits, dots and hyphens, and begins and ends with a letter "
            "or digit."
        )
    if ".." in value:
        return "A bucket name can't contain two adjacent dots."
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        pass
    else:
        return "A bucket name can't look like an IP address."
    if value.startswith(BUCKET_BAD_PREFIXES):
        return f"A bucket name can't begin with {', '.join(BUCKET_BAD_PREFIXES)}."
    if value.endswith(BUCKET_BAD_SUFFIXES):
        return f"A bucket name can't end with {', '.join(BUCKET_BAD_SUFFIXES)}."
    return None


def prefix_error(value: str) -> str | None:
    """A prefix is required (reports never go to the bucket root)."""
    if not value or value.strip("/") == "":
        return "Enter a prefix: reports are not written to the bucket root."
    if value.startswith("/"):
        return "A prefix does not begin with '/'."
    if len(value) > 512:
        return "Use at most 512 characters."
    if any(ord(ch) < 32 or ch in '\\{}^%`[]"<>~#|' for ch in value):
        return "Use letters, digits and ! - _ . * ' ( ) / in a prefix."
    return None


def https_url_error(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme != "https":
        return "The MCP registry URL must use https://."
    if not parts.hostname or ("." not in parts.hostname and parts.hostname != "localhost"):
        return "Enter a full URL, like https://mcp.example.com/registry.json."
    if parts.username or parts.password:
        return "Don't put credentials in the URL."
    return None


MAX_CAP = Decimal("1000000000")


def parse_cap(value: Any) -> Decimal | None:
    """An overage cap in credits (two decimals at most, not negative), or None for "no cap" (empty or null).
    Raises ValueError with a message for a person."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool | float):
        raise ValueError("Write the cap as a number of credits, like 500 or 500.50.")
    try:
        cap = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number of credits.") from None
    if not cap.is_finite():
        raise ValueError(f"{value!r} is not a number of credits.")
    if cap < 0:
        raise ValueError("A cap cannot be negative: 0 means no overage at all.")
    if cap != cap.quantize(Decimal("0.01")):
        raise ValueError("Credits have at most two decimals.")
    if cap > MAX_CAP:
        raise ValueError(f"Use a cap below {MAX_CAP:,} credits, or no cap.")
    return cap.quantize(Decimal("0.01"))
