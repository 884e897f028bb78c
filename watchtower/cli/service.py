"""Service commands: run, status, withdraw, demo."""

from __future__ import annotations
