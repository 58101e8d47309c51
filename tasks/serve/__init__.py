"""Serve every exported SavedModel over HTTP, with TF Serving's REST API and a page to try them.

    python -m tasks.language_model export        # each task: saved_models/<task>
    python -m tasks.serve                        # http://127.0.0.1:8501/

The serving process runs TensorFlow and TF Text (which imports Keras for its own layers, as
TensorFlow does) with FastAPI and uvicorn: never JAX, kerasrnn or the task code, whichever
backend exported the models. `models.py` loads the models and speaks TF Serving's JSON,
`app.py` is the HTTP application, `page.html` the page.
"""

import argparse
import sys

__all__ = ["main", "make_app"]


def make_app(models_folder, limits=None):
    """The FastAPI app (`tasks.serve.app.make_app`); `limits` a `tasks.serve.models.Limits`."""
    from tasks.serve.app import make_app as make

    return make(models_folder, limits)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--verbose" not in argv:
        from tasks.cli import quiet_tensorflow

        quiet_tensorflow()
    from tasks.serve.models import Limits

    defaults = Limits()
    p = argparse.ArgumentParser(
        prog="python -m tasks.serve",
        description="Serve the SavedModels in a folder over HTTP (TF Serving's REST API) with "
                    "a page to try them.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", default="saved_models",
                   help="a folder of SavedModels (one subfolder each, named as served; "
                        "TF Serving's numbered version folders work too)")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=8501, help="the port (TF Serving's REST one)")
    p.add_argument("--max-instances", type=int, default=defaults.max_instances,
                   help="texts per request")
    p.add_argument("--max-text-length", type=int, default=defaults.max_text_length,
                   help="characters per text")
    p.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes,
                   help="bytes per request body")
    p.add_argument("--verbose", action="store_true", help="TensorFlow's start-up log lines")
    args = p.parse_args(argv)
    try:
        limits = Limits(args.max_instances, args.max_text_length, args.max_body_bytes)
        app = make_app(args.models, limits)
    except ValueError as e:
        p.error(str(e))

    import uvicorn

    names = ", ".join(f"{m.name} ({m.kind})" for m in app.state.models.values())
    print(f"serving {names} on http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
