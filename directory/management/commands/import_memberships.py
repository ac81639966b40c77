"""`import_memberships FILE [--identity-store ID] [--dry-run]` (CONTRACTS.md).

The rules of the file are in directory/importers/memberships.py; the command's behaviour in _import.py.
"""

from directory.importers import directory_memberships_import
from directory.management.commands._import import ImportCommand


class Command(ImportCommand):
    help = "Add users to groups from a CSV file (group by display name); other memberships are kept."
    columns = "group,user_name"
    service = staticmethod(directory_memberships_import)
