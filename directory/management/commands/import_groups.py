"""`import_groups FILE [--identity-store ID] [--dry-run]` (CONTRACTS.md).

The rules of the file are in directory/importers/groups.py; the command's behaviour in _import.py.
"""

from directory.importers import directory_groups_import
from directory.management.commands._import import ImportCommand


class Command(ImportCommand):
    help = "Create or update directory groups from a CSV file (the display name is the key; case is ignored)."
    columns = "display_name[,description][,external_id]"
    service = staticmethod(directory_groups_import)
