"""``/v1/chat/compare``: one prompt to several models at once, side by side, optionally judged by another model."""
