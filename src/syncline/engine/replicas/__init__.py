"""Replicas: places where a tree lives, behind the small interface in ``replica.py``."""
