"""Notifications (``notifications``): an outbox written in the action's transaction, drained exactly once into
per-person inboxes and an optional webhook; due-soon and overdue reminders.

Owns: telling people. May import: ``infra``, ``people``, ``log``.
"""
