"""The web dashboard of `leadq serve`: server-rendered pages over the store.

`leadq.dashboard.routes.install` mounts the pages under /dashboard, with
their static files and the handlers that turn a missing sign-in into a
redirect and other page errors into HTML.
"""
