"""The lesson's experiments, each a module with ``run(...) -> dict`` and ``main(argv)``.

``python -m lesson.experiments.<name>`` measures one and writes ``assets/results/<name>.json``
through :func:`lesson.results.save_result`; the app's pages and ``outputs/results.md`` read it.
"""
