"""What learners look at: plots, one colour per engine, exercise checks."""
