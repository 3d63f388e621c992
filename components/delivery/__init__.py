"""From model to app: `edgectl predict` and `edgectl download` (command.py adds them).

gated.py finds the artifact a stack gated (its registry record) and verifies its sha256;
bundle.py writes what an app bundles; online.py asks the deployed model instead.
"""
