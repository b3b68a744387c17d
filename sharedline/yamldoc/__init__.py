"""Admins' YAML documents: positions for file:line errors, and the field types they share."""
