"""What Python 3.7 lacks, for the modules a job imports (a job may run in a 3.7 environment;
runyard itself runs on 3.11+)."""

from __future__ import annotations

try:
    from functools import cached_property
except ImportError:  # Python 3.7
    class cached_property:  # type: ignore[no-redef]  # computed once, kept in the instance's __dict__
        def __init__(self, func):
            self.func = func
            self.__doc__ = func.__doc__

        def __set_name__(self, owner, name):
            self.name = name

        def __get__(self, instance, owner=None):
            if instance is None:
                return self
            value = instance.__dict__[self.name] = self.func(instance)
            return value



def unlink_if_present(path) -> None:
    """Path.unlink(missing_ok=True), which Python 3.7 lacks."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


__all__ = ["cached_property", "unlink_if_present"]
