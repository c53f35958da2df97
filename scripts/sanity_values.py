"""Print the lesson's InfoNCE sanity values (identical and random pairs, the tau sweep) from code.

    python3 scripts/sanity_values.py
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ssl_core.losses.infonce import main  # noqa: E402

if __name__ == "__main__":
    main()
