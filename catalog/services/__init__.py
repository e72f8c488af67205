"""Catalog services: the functions that write."""
