"""What reading agent definitions may cost: one file, its front matter, one tier.

Anyone who can write to a project can put files in its ``.claude/agents/``, so
reading them is bounded. A file past a limit is not loaded: it becomes a
problem for that file that names the limit and by how much it was passed, and
every other file still loads. Nothing here is configurable; each value is far
above what a real definition needs (of 404 public Claude Code agent files, the
largest is 64 KB, the longest front matter 2.3 KB, the longest description 724
characters; none uses a YAML alias).

============================  ==========  ======================================
limit                         value       past it
============================  ==========  ======================================
file size                     1 MiB       not read at all (never more than
                                          limit + 1 bytes are)
front matter                  64 Ki chars the file is refused
YAML values (an alias counts  10,000      refused before any value is built
as a copy of what it names)
YAML nesting                  32 levels   refused before any value is built
an integer                    18 digits   refused, with its line
``timeout``                   86,400 s    refused (the tool takes the same range)
``memory_limit``              1 TiB (MB)  refused (the tool takes the same range)
``model``, a specialization   100 chars   refused
``specializations``           32          refused
problems listed per file      20          one more problem counts the rest
a description shown to a      1,000 chars cut there, saying so, with a warning;
model (discovery, PM prompt)              the file, an export and the agent's
                                          own run keep all of it
folders walked per tier       1,000       the walk stops: a problem says where
                                          and what was left unread
directory entries examined    20,000      likewise
per tier
============================  ==========  ======================================

Symbolic links never lead out of a tier: a link to a folder or a definition
file whose target lies outside the tier's root is not followed, and is a
problem for the link's path that names the target.
"""

from __future__ import annotations

#: The largest definition file read, in bytes. A larger one is refused from its size alone.
MAX_FILE_BYTES = 1024 * 1024
#: The longest front matter parsed, in characters (the body may be longer).
MAX_FRONT_MATTER_CHARS = 64 * 1024
#: The most values (scalars, lists, mappings) the front matter may describe, each alias
#: counted as a full copy of what it names: a "billion laughs" file is refused here.
MAX_YAML_VALUES = 10_000
#: The deepest nesting of lists and mappings in the front matter.
MAX_YAML_DEPTH = 32
#: The most digits an integer in the front matter may have (below 10**18).
MAX_INTEGER_DIGITS = 18
#: The longest ``timeout`` a definition may set, in seconds (one day).
MAX_TIMEOUT_S = 86_400
#: The largest ``memory_limit`` a definition may set, in megabytes (1 TiB).
MAX_MEMORY_LIMIT_MB = 1_048_576
#: The longest ``model`` value or single specialization, in characters (models are shown them).
MAX_SHORT_TEXT_CHARS = 100
#: The most specializations a definition may list (models are shown them all).
MAX_SPECIALIZATIONS = 32
#: The most problems listed for one file; the rest are counted in one more.
MAX_PROBLEMS_PER_FILE = 20
#: The most characters of a description a model is shown (discovery, the PM prompt).
DESCRIPTION_MAX_CHARS = 1_000
#: The most folders walked under one tier's root (the root included).
MAX_DIRECTORIES_PER_TIER = 1_000
#: The most directory entries (files, folders, anything) examined under one tier's root.
MAX_ENTRIES_PER_TIER = 20_000
