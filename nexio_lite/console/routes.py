"""The console's routes, listed once."""

from __future__ import annotations

from aiohttp import web

from nexio_lite.console import views
from nexio_lite.console.web import TEMPLATES, environment, static_dir


def add_routes(app: web.Application) -> None:
    env = app[TEMPLATES] = environment()
    for name in env.list_templates():  # compiled now, not while a page waits for it
        env.get_template(name)
    router = app.router
    router.add_get("/ui", views.index)
    router.add_get("/ui/", views.index)
    router.add_get("/ui/login", views.login_form)
    router.add_post("/ui/login", views.login)
    router.add_post("/ui/logout", views.logout)
    router.add_get("/ui/jobs", views.jobs)
    router.add_get("/ui/jobs/{job_id}", views.job)
    router.add_post("/ui/jobs/{job_id}/redeliver", views.redeliver)
    router.add_get("/ui/traces/{job_id}", views.trace)
    router.add_get("/ui/pools", views.pools)
    router.add_static("/ui/static", static_dir(), append_version=False)
    router.add_get("/ui/{tail:.*}", views.not_found)
