"""Which versions of a model to serve, as TensorFlow Serving's `model_version_policy` says.

A model base directory holds numeric version subdirectories (`models/scenes/1`, `/2`, ...), each
a SavedModel. The policy picks the versions to serve among those present:

* `latest:N`: the N highest (TF Serving's default is `latest:1`);
* `all`: every version;
* `specific:1,3`: exactly these (those not present yet are loaded once they appear).
"""

import dataclasses
import enum


class VersionPolicyKind(enum.Enum):
    LATEST = "latest"
    ALL = "all"
    SPECIFIC = "specific"


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """The versions to serve among those in the base directory.

    Attributes:
        kind: `LATEST`, `ALL` or `SPECIFIC`.
        num_versions: with `LATEST`, how many of the highest versions.
        versions: with `SPECIFIC`, the version numbers.

    Example:
        VersionPolicy.parse("latest:2").select([1, 2, 5])  # [2, 5]
    """

    kind: VersionPolicyKind = VersionPolicyKind.LATEST
    num_versions: int = 1
    versions: tuple = ()

    def __post_init__(self):
        if not isinstance(self.kind, VersionPolicyKind):
            object.__setattr__(self, "kind", VersionPolicyKind(self.kind))
        object.__setattr__(self, "versions", tuple(sorted(set(self.versions))))
        if self.kind is VersionPolicyKind.LATEST and self.num_versions < 1:
            raise ValueError(f"latest:N needs N >= 1, got {self.num_versions}")
        if self.kind is VersionPolicyKind.SPECIFIC and not self.versions:
            raise ValueError("specific:V,... needs at least one version")
        if any(v < 0 for v in self.versions):
            raise ValueError(f"versions are non-negative integers, got {self.versions}")

    @classmethod
    def parse(cls, text):
        """`latest`, `latest:N`, `all` or `specific:V1,V2,...` as a `VersionPolicy`.

        Raises:
            ValueError: naming the accepted forms.
        """
        kind, _, argument = text.strip().partition(":")
        usage = f"version policy {text!r}: expected latest, latest:N, all or specific:V1,V2,..."
        try:
            kind = VersionPolicyKind(kind)
            if kind is VersionPolicyKind.LATEST:
                return cls(kind, num_versions=int(argument) if argument else 1)
            if kind is VersionPolicyKind.ALL and not argument:
                return cls(kind)
            if kind is VersionPolicyKind.SPECIFIC:
                return cls(kind, versions=tuple(int(v) for v in argument.split(",")))
        except ValueError as error:
            raise ValueError(f"{usage} ({error})") from None
        raise ValueError(usage)

    def select(self, present):
        """The versions of `present` (version numbers) to serve, ascending."""
        present = sorted(set(present))
        if self.kind is VersionPolicyKind.LATEST:
            return present[-self.num_versions :]
        if self.kind is VersionPolicyKind.ALL:
            return present
        return [v for v in present if v in self.versions]

    def __str__(self):
        if self.kind is VersionPolicyKind.LATEST:
            return f"latest:{self.num_versions}"
        if self.kind is VersionPolicyKind.ALL:
            return "all"
        return "specific:" + ",".join(str(v) for v in self.versions)
