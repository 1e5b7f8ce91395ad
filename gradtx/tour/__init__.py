"""The face of gradtx: races of its optimizers on `gradtx.problems`, and the command line.

`menu` declares the optimizers raced, `race` runs them (one compiled scan each), `prose`
generates the sentences about runs from their numbers, `report` turns runs into tables, figures
and an HTML page, `ledger` measures the claims of the optimizer story, `tour` races every
challenge after the ledger, and `cli` is the `gradtx` command. This package uses only the public
`gradtx` API and `gradtx.problems`, and nothing else in gradtx imports it.
"""
