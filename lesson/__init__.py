"""The lesson layer: what SSL Explorer teaches, built on :mod:`ssl_core` and used by the pages.

Shaped by the lesson, not by Streamlit: nothing here imports streamlit or plotly, so every
number and table a page shows is a function a test can call.

- :mod:`lesson.experiments`: the measured experiments, each a ``run(...)`` with a typed result
  read back by the pages and ``scripts/make_report.py`` (``python3 -m lesson.experiments.<name>``);
- :mod:`lesson.results`: the result files (``assets/results/<name>.json``) and their provenance;
- :mod:`lesson.live`: trainers a page runs live, streaming reports (DINO's collapse now);
- :mod:`lesson.figures`: figure data, the arrays and short texts a plot shows;
- :mod:`lesson.picker`: the method picker's rule book, scoring and commands;
- :mod:`lesson.points`: the point sets the embedding pages draw (dataset items, photo crops);
- :mod:`lesson.bundle`: what is bundled (checkpoints, measured results), as tables.
"""
