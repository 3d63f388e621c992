"""Service behaviour (datasets, operations, training) shared by every wire-protocol facade."""
