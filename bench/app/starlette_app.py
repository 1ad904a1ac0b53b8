"""bench/load/app.sh's application on Starlette: POST /api/echo sums an order's items, GET
/plaintext answers "Hello, World!". The same answers, byte for byte, as the C++ servers
(bench/app/order_summary.hpp).

Run (as app.sh does; one process, uvloop and httptools, no access log):
  python3 -m uvicorn --app-dir bench/app starlette_app:app --host 127.0.0.1 --port PORT \
      --loop uvloop --http httptools --workers 1 --no-access-log --log-level warning
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

BAD_REQUEST = b'{"error":"invalid order"}'


async def echo(request: Request) -> Response:
    try:
        order = await request.json()
        items = order["items"]
        order_id = order["id"]
        if not isinstance(order_id, str) or not isinstance(items, list):
            raise TypeError("not an order")
        total = 0.0
        for item in items:
            total += item["qty"] * item["price"]
    except (ValueError, KeyError, TypeError):
        return Response(BAD_REQUEST, status_code=400, media_type="application/json")
    # JSONResponse: json.dumps(..., ensure_ascii=False, separators=(",", ":")).
    return JSONResponse({"id": order_id, "items": len(items), "total": total})


async def plaintext(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


app = Starlette(
    routes=[
        Route("/api/echo", echo, methods=["POST"]),
        Route("/plaintext", plaintext, methods=["GET"]),
    ]
)
