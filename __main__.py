"""The Pulumi program: stack config → specs (+ this stack's overlay) → resources."""

from components.resources import build, load_stack

build(*load_stack())
