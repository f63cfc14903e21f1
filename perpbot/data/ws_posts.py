"""Provides the book of info requests in flight over the price feed's socket (Hyperliquid's WebSocket "post").

The feed thread answers them as their frames arrive; the thread that asked waits on its entry's event.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any


class Post:
    """One info request in flight, answered by the feed thread."""

    __slots__ = ("done", "data", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.data: Any = None
        self.error: str | None = None


class Posts:
    """Requests in flight by id (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._posts: dict[int, Post] = {}
        self._ids = itertools.count(1)

    def open(self) -> tuple[int, Post]:
        with self._lock:
            post_id = next(self._ids)
            post = self._posts[post_id] = Post()
        return post_id, post

    def close(self, post_id: int) -> None:
        with self._lock:
            self._posts.pop(post_id, None)

    def answer(self, answer: tuple[Any, Any, str | None]) -> None:
        """(id, data, error) of an answer frame; one timed out already, or not ours, is ignored."""
        post_id, data, error = answer
        with self._lock:
            post = self._posts.get(post_id) if isinstance(post_id, int) else None
        if post is not None:
            post.data, post.error = data, error
            post.done.set()

    def fail_all(self, why: str) -> None:
        with self._lock:
            posts = list(self._posts.values())
        for post in posts:
            post.error = why
            post.done.set()
