"""Scheduled work: Prefect decides *when*, the BPMN models and workflows/ services decide *what*.

``jobs``, ``rounds`` and ``reports`` are plain functions that open their own sessions and commit per unit
(one case, one batch of notices, one document); ``flows`` wraps them as Prefect flows; ``serve`` runs them on
their schedules. Nothing here imports Prefect except ``flows`` and ``serve``'s serving step.
"""
