"""The collector app (/collect/): static files served by app.web.routes.collect; strings.py lists its texts."""
