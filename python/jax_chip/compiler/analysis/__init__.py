"""Analyses shared by passes (fusibility, storage sharing, op support)."""
