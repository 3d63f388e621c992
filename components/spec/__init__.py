"""The spec language: load `specs/*.yaml` + `specs/envs/<stack>.yaml` into typed documents.

Public API (other layers import from here):
    load_specs(directory, stack=None) -> SpecSet        raises SpecError
    SpecSet, Bucket, Dataset, Model, Publication, Rollout and their value types
    SpecError / SpecIssue / Location                      the layer's error type
    StackConfig, load_stack_config, stack_config_from_mapping
    display_name, bucket_name                              cloud name derivation
"""

from components.spec.documents import (
    Acceptance,
    BaseModel,
    Bucket,
    Budget,
    Classification,
    Dataset,
    DatasetSource,
    Deploy,
    Document,
    ExportFormat,
    Kind,
    LabelMinimums,
    Lifecycle,
    Model,
    OptimizeFor,
    Promotion,
    Publication,
    Rollout,
    RolloutCondition,
    SourceKind,
    SpecSet,
    Split,
    StorageClass,
    Target,
    ThresholdKind,
    ThresholdPolicy,
    freeze,
    thaw,
)
from components.spec.errors import Location, SpecError, SpecIssue
from components.spec.loader import load_specs
from components.spec.merge_patch import merge_patch
from components.spec.naming import bucket_name, display_name
from components.spec.overlay import overlay_path, overlay_stacks
from components.spec.stack import (
    RegistryKind,
    StackConfig,
    TrainingApiKind,
    load_stack_config,
    stack_config_from_mapping,
)

__all__ = [
    "Acceptance",
    "BaseModel",
    "Bucket",
    "Budget",
    "Classification",
    "Dataset",
    "DatasetSource",
    "Deploy",
    "Document",
    "ExportFormat",
    "Kind",
    "LabelMinimums",
    "Lifecycle",
    "Location",
    "Model",
    "OptimizeFor",
    "Promotion",
    "Publication",
    "RegistryKind",
    "Rollout",
    "RolloutCondition",
    "SourceKind",
    "SpecError",
    "SpecIssue",
    "SpecSet",
    "Split",
    "StackConfig",
    "StorageClass",
    "Target",
    "ThresholdKind",
    "ThresholdPolicy",
    "TrainingApiKind",
    "bucket_name",
    "display_name",
    "freeze",
    "load_specs",
    "load_stack_config",
    "merge_patch",
    "overlay_path",
    "overlay_stacks",
    "stack_config_from_mapping",
    "thaw",
]
