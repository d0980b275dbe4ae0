"""``import <platform SDK>`` without the SDK installed, for adapters whose handlers import one."""

from __future__ import annotations

import importlib.machinery
import sys
from types import ModuleType

TYPE_CHECKING = False
if TYPE_CHECKING:  # ``typing`` costs ~6 ms of start-up; annotations are strings
    from typing import Any, Dict, Optional


class SdkStandIn:
    """Meta-path finder of last resort: it is appended to ``sys.meta_path``, so it is
    consulted only when no path entry has the module (a vendored real SDK wins)."""

    def __init__(self, name: str, contents: Dict[str, Any]) -> None:
        self.name = name
        self.contents = contents

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != self.name:
            return None
        return importlib.machinery.ModuleSpec(name, self)  # type: ignore[arg-type]

    def create_module(self, spec: Any) -> Optional[ModuleType]:
        return None

    def exec_module(self, module: ModuleType) -> None:
        module.__dict__.update(self.contents)

    def install(self) -> None:
        """Add to ``sys.meta_path`` once, even if the adapter module is imported again."""
        if not any(isinstance(f, SdkStandIn) and f.name == self.name for f in sys.meta_path):
            sys.meta_path.append(self)  # type: ignore[arg-type]
