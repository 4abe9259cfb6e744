"""Shouhu's HTTP API (FastAPI): routes validate input and call workflows/ services."""
