"""``python -m __ignite__`` from the artifact root.

Before importing anything else, drop the working directory that ``-m`` put at
``sys.path[0]``: the launcher must load only the stdlib and itself, so user
modules named ``json.py``, ``socket.py``, ``selectors.py`` ... cannot shadow
what it needs.  The user's directories go on ``sys.path`` only after that.
"""

import os
import sys
from time import perf_counter

if __name__ == "__main__":
    _t0 = perf_counter()
    _root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    _cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) not in (_cwd, _root)]

    from .main import main

    sys.exit(main(_root, _t0))
