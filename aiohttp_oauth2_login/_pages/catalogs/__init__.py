"""The built-in translations of the pages: German, French, Spanish and Chinese (Simplified).

Each catalog maps the English text (error titles, descriptions and hints, the pages' own
sentences) to its translation; ``{placeholders}`` stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

from .de import CATALOG as DE
from .es import CATALOG as ES
from .fr import CATALOG as FR
from .zh import CATALOG as ZH

__all__ = ["BUILTIN"]

BUILTIN: Mapping[str, Mapping[str, str]] = {"de": DE, "fr": FR, "es": ES, "zh": ZH}
