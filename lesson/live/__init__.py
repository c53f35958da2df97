"""Trainers a page runs live: a fresh small model per run, reports streamed as it trains.

Each module holds one method's live run: a frozen config of plain values (hashable, JSON-ready,
picklable: the app runs it in a worker process) and a generator that yields a JSON-ready report
every few steps until a step count or a time limit. :mod:`lesson.live.dino` is DINO's collapse,
:mod:`lesson.live.simclr` the 2-D map of a contrastive encoder, :mod:`lesson.live.mae` a strip of
masked images reconstructed; the last two share their loop (:mod:`lesson.live.framed`).
"""
