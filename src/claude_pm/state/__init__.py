"""The project's SQLite state (``state.db``): the database handle and its migrations.

:class:`Database` opens (and migrates) the file; each service owns its tables
and queries and registers its migrations (see :mod:`claude_pm.state.migrations`).
"""

from claude_pm.state.db import Database
from claude_pm.state.migrations import Migration, register, schema_version

__all__ = ["Database", "Migration", "register", "schema_version"]
