"""The web console: a static single-page app served at ``/ui`` that calls only the public API.

The page holds no server-side session: the browser keeps the token in ``sessionStorage`` and
sends it as a Bearer header, so no cookie can be replayed by another site (docs/console.md).
"""
