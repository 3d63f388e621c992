"""edge-labeler: specs → Pulumi resources for the AutoML Vision Edge workflow."""
