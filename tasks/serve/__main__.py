"""`python -m tasks.serve [--models saved_models] [--port 8501]`: see tasks/serve/__init__.py."""

from tasks.serve import main

main()
