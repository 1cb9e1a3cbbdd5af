"""HTTP endpoints of the remittances package (mounted under /api/v1 by app.main)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["remittances"])
