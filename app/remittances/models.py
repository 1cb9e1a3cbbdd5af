"""Remittance batches and their lines (see the remittances issue)."""

from __future__ import annotations
