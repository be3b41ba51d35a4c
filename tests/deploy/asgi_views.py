"""A URLconf for tests/deploy/test_asgi_sync.py: the site, and views that show where and how the ASGI app ran them."""
from __future__ import annotations

import threading

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@login_not_required
def thread_name(request):
    response = HttpResponse(threading.current_thread().name)
    response.set_cookie("seen", "yes")
    return response


@csrf_exempt
@login_not_required
def echo(request):
    return HttpResponse(request.body[::-1], content_type="application/octet-stream")


BLOCK = b"0123456789abcdef" * 512  # 8 KiB
BLOCKS = 40


@login_not_required
def streamed(request):
    def blocks():
        for _ in range(BLOCKS):
            yield BLOCK
    return StreamingHttpResponse(blocks(), content_type="application/octet-stream")


@login_not_required
def broken(request):
    raise RuntimeError("the view failed")


@login_not_required
async def asynchronous(request):
    return HttpResponse(threading.current_thread().name)


urlpatterns = [
    path("thread/", thread_name),
    path("echo/", echo),
    path("streamed/", streamed),
    path("broken/", broken),
    path("async/", asynchronous),
    path("", include("config.urls")),  # the site's own pages besides (the middleware names the admin's)
]
