"""`import_users FILE [--identity-store ID] [--dry-run]` (CONTRACTS.md).

The rules of the file are in directory/importers/users.py; the command's behaviour in _import.py.
"""

from directory.importers import directory_users_import
from directory.management.commands._import import ImportCommand


class Command(ImportCommand):
    help = "Create or update directory users from a CSV file (the user name is the key; case is ignored)."
    columns = "user_name,display_name,given_name,family_name,email[,external_id][,active]"
    service = staticmethod(directory_users_import)
