"""Shouhu's domain core: process versions, cases, human tasks and the case log."""
