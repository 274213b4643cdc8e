"""The platform's Flask class (kept out of ``app/__init__`` so that the offline tools import no Flask)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask


class PlatformFlask(Flask):
    """Flask, remembering which hooks and views are plain functions: Flask asks ``inspect`` again for every
    hook of every request (a dozen per request here), which a bare app with no hooks never pays."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Weak: a function registered for one request (after_this_request) is not kept alive by this.
        self._plain_functions: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            if func in self._plain_functions:
                return func
        except TypeError:  # not weakly referenceable: ask every time
            return super().ensure_sync(func)
        result = super().ensure_sync(func)
        if result is func:
            self._plain_functions.add(func)
        return result
