"""The face of gradtx: races of its optimizers on `gradtx.problems`, and the command line.

`menu` declares the optimizers raced, `race` runs them (one compiled scan each), `report` turns
runs into tables, sentences, figures and an HTML page, `tour` races every challenge, and `cli`
is the `gradtx` command. This package uses only the public `gradtx` API and `gradtx.problems`,
and nothing else in gradtx imports it.
"""
