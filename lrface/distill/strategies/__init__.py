"""Built-in strategies, one module each."""

from . import byot, ekd, kd, student_only, teacher_only  # noqa: F401
