"""Root pytest configuration: the notebooks (run by nbval) get COURSE_QUICK=1, so they use small sizes."""
import os

os.environ.setdefault("COURSE_QUICK", "1")
