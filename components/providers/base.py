"""The one base of every dynamic provider: error messages, diff by declared fields, ids.

Providers are pickled by reference (their module is importable) and run inside the Pulumi
SDK's dynamic provider host. They hold no clients: those are built in each call through
`components.cloud`. Expected failures (bad data, gate not met, cloud refusals) reach the
user as one clear message, without a Python traceback; anything else is a bug and keeps
its traceback.
"""

import hashlib
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar, cast, get_args, get_origin, is_typeddict

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from components.cloud.clients import use_access
from components.cloud.errors import CloudError
from components.data.errors import DatasetError
from components.spec.stack import ACCESS_KEYS, NAMESPACE

# Properties as the Pulumi SDK carries them (JSON values by name): the wire and the state.
Props = dict[str, Any]
# Each provider declares its properties as TypedDicts, in three parts: `…Inputs` from its spec
# document, `…Links` (generic in `Pending`) from other resources' outputs, and `…Outputs`,
# what it computes (all optional). In the graph a link is still pending (a `Ref`); a provider
# sees it resolved, as `…Links[Never]`: `str | Never` is `str`. The engine drops properties
# whose value is None, at any depth: those are NotRequired, and read with `.get`.
Pending = TypeVar("Pending")
# The properties a provider's methods read: its `…Props`, inputs and links and outputs.
P = TypeVar("P", bound=Mapping[str, object])
# What a provider computes: its outputs, or for a refresh, the live values that changed.
Outputs = Mapping[str, object]


class UserError(Exception):
    """An expected failure with a message for the user (shown without a traceback)."""


# Errors of the layers below that are the user's to fix, not bugs.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (UserError, CloudError, DatasetError)


def _install_clean_errors() -> None:
    """Inside the SDK's provider host, report expected errors as their message only.

    The host (`python -m pulumi.dynamic`) turns every exception into
    `traceback.format_exc()`; for our expected errors the message is what the user needs.
    Outside that host (tests calling providers directly) this does nothing.
    """
    host: Any = sys.modules.get("__main__")  # the SDK's host module: a script, untyped
    if host is None or getattr(host, "_abort_with_traceback", None) is None:
        return
    if getattr(host.traceback, "edge_labeler", False):
        return

    class _Formatter:
        edge_labeler = True

        def __getattr__(self, name: str) -> Any:
            return getattr(traceback, name)

        @staticmethod
        def format_exc(*args: Any, **kwargs: Any) -> str:
            err = sys.exc_info()[1]
            if isinstance(err, EXPECTED_ERRORS):
                return str(err)
            return traceback.format_exc(*args, **kwargs)

    host.traceback = _Formatter()


@contextmanager
def expected_errors(resource: str) -> Iterator[None]:
    """Prefixes expected errors with the resource they concern, keeping their type."""
    try:
        yield
    except EXPECTED_ERRORS as err:
        raise UserError(f"{resource}: {err}") from err


def stable_id(*parts: str) -> str:
    """A deterministic id from the parts that identify a resource."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _as_read(olds: Mapping[str, Any], news: Mapping[str, Any]) -> Props:
    """`olds` with each `cloud` input (at any depth) narrowed to the settings the new inputs
    carry: state written before `cloud` held only what a resource reads (see
    `CloudTarget.as_inputs`) must not make a setting the resource never reads replace it."""
    out = dict(olds)
    for key, new in news.items():
        old = olds.get(key)
        if not (isinstance(old, Mapping) and isinstance(new, Mapping)):
            continue
        out[key] = {k: old.get(k) for k in new} if key == "cloud" else _as_read(old, new)
    return out


class Provider(ResourceProvider, Generic[P]):
    """Subclasses declare `kind`, `replace_on` and `update_on` and implement `_create` etc.,
    which read the properties as `P`, the provider's TypedDict."""

    kind: ClassVar[str]
    replace_on: ClassVar[tuple[str, ...]] = ()
    update_on: ClassVar[tuple[str, ...]] = ()
    # Outputs that can change without a replacement, and the inputs they change with.
    output_sources: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # What the provider computes (the Resource's `computed_outputs`): never inputs.
    outputs: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuses a `replace_on` / `update_on` naming no property of the provider's P (a
        misspelt name would never change anything)."""
        super().__init_subclass__(**kwargs)
        props = next(
            (
                get_args(b)[0]
                for b in getattr(cls, "__orig_bases__", ())
                if get_origin(b) is Provider
            ),
            None,
        )
        if props is None or not is_typeddict(props):
            return  # no Provider[P] among its bases: nothing to check against
        known = props.__required_keys__ | props.__optional_keys__
        unknown = [k for k in (*cls.replace_on, *cls.update_on) if k not in known]
        if unknown:
            raise TypeError(f"{cls.__name__}: {', '.join(unknown)}: not in {props.__name__}")

    @classmethod
    def changes_with(cls, output: str) -> tuple[str, ...]:
        """The inputs an output can change with: by default, those that replace the resource."""
        return cls.output_sources.get(output, cls.replace_on)

    def configure(self, req: ConfigureRequest) -> None:
        """The engine's stack configuration: how to authenticate (secrets decrypted)."""
        _install_clean_errors()
        keys = (f"{NAMESPACE}:{key}" for key in ACCESS_KEYS)
        use_access({key: req.config.get(key) for key in keys})

    @staticmethod
    def describe(props: Mapping[str, Any]) -> str:
        return str(props.get("name", "?"))

    def label(self, props: Mapping[str, Any]) -> str:
        return f"{self.kind} '{self.describe(props)}'"

    def log(self, props: Mapping[str, Any]) -> Callable[[str], None]:
        """Progress lines (`[dataset digits] uploaded 10/20 images`) shown by `pulumi up`."""
        prefix = f"[{self.kind.lower()} {self.describe(props)}]"
        return lambda message: print(f"{prefix} {message}", flush=True)

    @staticmethod
    def typed(props: Mapping[str, Any]) -> P:
        """The properties the SDK hands a provider (`dict[str, Any]`) as its TypedDict: what
        its `…_inputs` and the graph declared, checked by `_check`, with its outputs."""
        return cast(P, props)  # the one boundary where the wire becomes typed

    # --- the protocol, with error handling in one place -----------------------------------
    def check(self, olds: Props, news: Props) -> CheckResult:
        try:
            inputs = self._check(dict(olds or {}), self.typed(dict(news)))
        except EXPECTED_ERRORS as err:
            return CheckResult(news, [CheckFailure(self._failed_property(err), str(err))])
        return CheckResult(dict(inputs), [])

    def diff(self, id_: str, olds: Props, news: Props) -> DiffResult:
        olds = _as_read(olds, news)
        changed = [k for k in (*self.replace_on, *self.update_on) if olds.get(k) != news.get(k)]
        replaces = [k for k in changed if k in self.replace_on]
        return DiffResult(
            changes=bool(changed),
            replaces=replaces,
            delete_before_replace=bool(replaces) and self._same_physical(olds, news),
        )

    def _same_physical(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
        """Whether a replacement would land on the very cloud resource it replaces (the same
        name): it must then be deleted first, as creating it would only adopt the old one."""
        return False

    def create(self, props: Props) -> CreateResult:
        with expected_errors(self.label(props)):
            id_, outs = self._create(self.typed(props))
        return CreateResult(id_, {**props, **outs})

    def read(self, id_: str, props: Props) -> ReadResult:
        """A refresh (`props`: the state's outputs) or an import (`props`: the program's
        checked inputs, without the outputs only create and read compute; the `import_`
        resource option): the live resource. An import also answers the inputs it read,
        overlaid with the live values — the engine refuses an import without them — which the
        engine diffs against the program's: no change, the resource is adopted as it is; a
        change, it is adopted, then updated (pulumi/pulumi#16397; older engines refused)."""
        with expected_errors(self.label(props)):
            outs = self._read(id_, self.typed(props))
        if outs is None:  # gone: the engine drops it from state on refresh
            return ReadResult(None, {})
        live = {**props, **outs}
        if any(key in props for key in outs if key in self.outputs):
            return ReadResult(id_, live)  # a refresh: the inputs stay as they are
        # An import (or the refresh of a resource whose read computes no output: its inputs,
        # as they were, with what is live of them).
        inputs = {key: live[key] for key in props if key not in self.outputs}
        return ReadResult(id_, live, inputs)

    def update(self, id_: str, olds: Props, news: Props) -> UpdateResult:
        # Implemented always: the SDK's default update erases every output.
        with expected_errors(self.label(news)):
            outs = self._update(id_, self.typed(olds), self.typed(news))
        return UpdateResult({**olds, **news, **outs})

    def delete(self, id_: str, props: Props) -> None:
        with expected_errors(self.label(props)):
            self._delete(id_, self.typed(props))

    # --- what subclasses implement ----------------------------------------------------------
    def _check(self, olds: Props, news: P) -> P:
        return news

    def _failed_property(self, err: Exception) -> str:
        return ""

    def _create(self, props: P) -> tuple[str, Outputs]:
        raise NotImplementedError

    def _read(self, id_: str, props: P) -> Outputs | None:
        return {}

    def _update(self, id_: str, olds: P, news: P) -> Outputs:
        raise NotImplementedError

    def _delete(self, id_: str, props: P) -> None:
        raise NotImplementedError


# A provider class of any properties (what the graph, the plan and the rehearsal hold).
ProviderType = type[Provider[Any]]


class DynamicResource(Resource):
    """A resource served by one of these providers. Subclasses set `provider_type` and
    `computed_outputs`, what the provider computes: declared as None inputs so that they exist
    as the resource's outputs (their values come from the provider)."""

    provider_type: ClassVar[ProviderType]
    computed_outputs: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, name: str, props: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {**props, **dict.fromkeys(self.computed_outputs)}
        super().__init__(self.provider_type(), name, props, opts)
