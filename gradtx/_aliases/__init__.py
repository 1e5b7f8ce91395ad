"""Ready-made optimizers, one chain each, grouped by the chapter of the story they belong to."""
