"""pytest set-up shared by unit tests and notebook runs (nbval)."""

import os

# Tests run the course in quick mode; notebook kernels inherit this environment.
os.environ.setdefault("COURSE_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_TEXT_PROGRESS", "1")  # text bars in executed notebooks
