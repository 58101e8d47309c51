"""The HTTP application: TF Serving's REST API over the exported SavedModels, a health check,
and the page (`page.html`) that tries every model.

    GET  /                                         the page
    GET  /healthz                                  {"status": "ok", "models": [...]}
    GET  /v1/models                                every model: name, version, kind, signatures
    GET  /v1/models/<name>[/versions/<v>]          TF Serving's model status
    GET  /v1/models/<name>[/versions/<v>]/metadata TF Serving's signature metadata
    POST /v1/models/<name>[/versions/<v>]:predict  TF Serving's predict: {"signature_name",
                                                   "instances": [...]} -> {"predictions"},
                                                   or {"inputs": ...} -> {"outputs"}

A bad request gets a 4xx answer `{"error": "..."}` (TF Serving's shape) and nothing else
happens; models run in a thread pool, so requests are answered concurrently (TensorFlow runs
its ops outside Python's lock).
"""

import json
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from tasks.serve.models import Limits, RequestError, ServedModel, find_models


def make_app(models_folder, limits=None):
    """The FastAPI app serving every SavedModel in `models_folder` (see `find_models`)."""
    limits = limits or Limits()
    models = {name: ServedModel(name, path, version)
              for name, (version, path) in find_models(models_folder).items()}
    page = resources.files("tasks.serve").joinpath("page.html").read_text()
    app = FastAPI(title="kerasrnn serving", docs_url=None, redoc_url=None)
    app.state.models, app.state.limits = models, limits

    def error(message, status=400):
        return JSONResponse({"error": message}, status_code=status)

    def find(name, version=None):
        if name not in models:
            raise RequestError(f"Servable not found for request: model {name!r} (served: "
                               f"{sorted(models)})", status=404)
        model = models[name]
        if version is not None and version != str(model.version):
            raise RequestError(f"Servable not found for request: model {name!r} version "
                               f"{version!r} (served: version {model.version})", status=404)
        return model

    @app.exception_handler(RequestError)
    async def request_error(request, exc):
        return error(str(exc), exc.status)

    @app.get("/", response_class=HTMLResponse)
    async def index():
        return page

    @app.get("/healthz")
    async def health():
        return {"status": "ok", "models": [m.describe() for m in models.values()]}

    @app.get("/v1/models")
    async def listing():
        return {"models": [m.describe() for m in models.values()]}

    def status(model):
        return {"model_version_status": [{
            "version": str(model.version), "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}]}

    @app.get("/v1/models/{name}")
    async def model_status(name: str):
        return status(find(name))

    @app.get("/v1/models/{name}/versions/{version}")
    async def version_status(name: str, version: str):
        return status(find(name, version))

    @app.get("/v1/models/{name}/metadata")
    async def model_metadata(name: str):
        return find(name).metadata()

    @app.get("/v1/models/{name}/versions/{version}/metadata")
    async def version_metadata(name: str, version: str):
        return find(name, version).metadata()

    async def predict(request, model):
        body = await read_json(request, limits.max_body_bytes)
        return await run_in_threadpool(model.predict, body, limits)

    @app.post("/v1/models/{name}:predict")
    async def model_predict(name: str, request: Request):
        return await predict(request, find(name))

    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def version_predict(name: str, version: str, request: Request):
        return await predict(request, find(name, version))

    return app


async def read_json(request, max_bytes):
    """The request's body as JSON, read no further than `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise RequestError(f"the body has {declared} bytes, more than max_body_bytes="
                           f"{max_bytes}", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise RequestError(f"the body is longer than max_body_bytes={max_bytes}",
                               status=413)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RequestError(f"the body is not valid JSON: {e}") from None
