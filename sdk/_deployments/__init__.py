"""Deployments: flows packaged with their schedules, registered, and served."""
