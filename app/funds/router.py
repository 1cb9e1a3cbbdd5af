"""HTTP endpoints of the funds package (mounted under /api/v1 by app.main)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["funds"])
