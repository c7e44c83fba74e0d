"""Training, evaluation and the side-by-side comparison of fusion schemes (torch)."""
