"""TensorFlow's releases on PyPI, so that a v1 request for a TensorFlow version (an Azure
curated environment, `add_tensorflow_conda_package()`, `TensorFlow(framework_version=...)`)
becomes one that installs here: the release, the Python it has wheels for, and the pins its
era needs because its own metadata does not cap them.
"""

from __future__ import annotations

from dataclasses import dataclass

# minor release -> (its newest patch, oldest Python, newest Python) with Linux x86-64 wheels on
# PyPI. Jobs need Python 3.7+, so older Pythons are left out.
RELEASES: dict[tuple[int, int], tuple[str, str, str]] = {
    (1, 13): ("1.13.2", "3.7", "3.7"),
    (1, 14): ("1.14.0", "3.7", "3.7"),
    (1, 15): ("1.15.5", "3.7", "3.7"),
    (2, 0): ("2.0.4", "3.7", "3.7"),
    (2, 1): ("2.1.4", "3.7", "3.7"),
    (2, 2): ("2.2.3", "3.7", "3.8"),
    (2, 3): ("2.3.4", "3.7", "3.8"),
    (2, 4): ("2.4.4", "3.7", "3.8"),
    (2, 5): ("2.5.3", "3.7", "3.9"),
    (2, 6): ("2.6.5", "3.7", "3.9"),
    (2, 7): ("2.7.4", "3.7", "3.9"),
    (2, 8): ("2.8.4", "3.7", "3.10"),
    (2, 9): ("2.9.3", "3.7", "3.10"),
    (2, 10): ("2.10.1", "3.7", "3.10"),
    (2, 11): ("2.11.1", "3.8", "3.10"),
    (2, 12): ("2.12.1", "3.8", "3.11"),
    (2, 13): ("2.13.1", "3.8", "3.11"),
    (2, 14): ("2.14.1", "3.9", "3.11"),
    (2, 15): ("2.15.1", "3.9", "3.11"),
    (2, 16): ("2.16.2", "3.9", "3.12"),
    (2, 17): ("2.17.1", "3.9", "3.12"),
    (2, 18): ("2.18.1", "3.9", "3.12"),
    (2, 19): ("2.19.1", "3.9", "3.12"),
    (2, 20): ("2.20.0", "3.9", "3.13"),
    (2, 21): ("2.21.0", "3.10", "3.13"),
}

# v1's CondaDependencies.TENSORFLOW_DEFAULT_VERSION: what add_tensorflow_*_package() pins.
V1_DEFAULT_VERSION = "2.2.0"


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())


def pythons(minor: tuple[int, int]) -> list[str]:
    """The Python versions ('3.8') the release has wheels for, oldest first."""
    _, oldest, newest = RELEASES[minor]
    return [f"3.{m}" for m in range(_key(oldest)[1], _key(newest)[1] + 1)]


def cpu_package(minor: tuple[int, int]) -> str:
    # Before 2.1 the `tensorflow` package was the CPU build and tensorflow-cpu did not exist
    # (1.15's tensorflow-cpu has no 3.7+ patch releases).
    return "tensorflow" if minor < (2, 1) else "tensorflow-cpu"


def era_pins(minor: tuple[int, int]) -> list[str]:
    """Pins an old release needs: it declares no upper bounds, and today's numpy (1.24 removed
    np.object, np.bool) and protobuf (4.x refuses its generated code) break it."""
    pins = []
    if minor < (2, 12):
        pins.append("numpy<1.24")
    if minor < (2, 11):
        pins.append("protobuf<3.21")
    return pins


@dataclass(frozen=True)
class Choice:
    minor: tuple[int, int]
    version: str          # the exact release installed ('2.2.3')
    python: str           # the Python it runs on ('3.8')
    requirements: list[str]

    @property
    def label(self) -> str:
        return f"TensorFlow {self.version} on Python {self.python}"


def nearest_minor(wanted: tuple[int, int], python: str | None = None) -> tuple[int, int] | None:
    """The release closest to `wanted` (the same major first) that has wheels for `python`
    (any Python when None); None when no release has."""
    usable = [minor for minor in RELEASES if python is None or python in pythons(minor)]
    if not usable:
        return None
    if wanted > max(usable):  # a release newer than any here: the newest
        return max(usable)
    return min(usable, key=lambda m: (abs(m[0] - wanted[0]), abs(m[1] - wanted[1]), -m[1]))


def parse_minor(version: str) -> tuple[int, int] | None:
    parts = _key(str(version).strip().rstrip(".*"))
    return (parts[0], parts[1]) if len(parts) >= 2 else None


def choose(version: str, python: str | None = None, prefer_pythons=()) -> Choice | None:
    """The release for a requested version ('2.2', '2.2.0', '1.13'). With `python` given the
    release must run on it; otherwise the first of `prefer_pythons` it supports, else its newest
    Python. None when the version cannot be read or nothing runs on `python`."""
    wanted = parse_minor(version)
    if wanted is None:
        return None
    minor = nearest_minor(wanted, python)
    if minor is None:
        return None
    supported = pythons(minor)
    chosen_python = python or next((p for p in prefer_pythons if p in supported), supported[-1])
    exact = RELEASES[minor][0]
    if minor == wanted and len(_key(version)) == 3:
        exact = ".".join(map(str, _key(version)))  # a full version that exists keeps its patch
    return Choice(minor=minor, version=exact, python=chosen_python,
                  requirements=[f"{cpu_package(minor)}=={exact}", *era_pins(minor)])
