"""Print the lesson's InfoNCE sanity values (identical and random pairs, the tau sweep) from code.

    python3 scripts/sanity_values.py
"""

from ssl_core.losses.infonce import main

if __name__ == "__main__":
    main()
