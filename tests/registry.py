"""Every ready-made optimizer, once: the contract tests and property tests iterate over this.

Adding an optimizer to gradtx is one line here. Each entry builds the optimizer with settings
under which it converges on a small convex problem.
"""

import gradtx

OPTIMIZERS = {
    "sgd": lambda: gradtx.sgd(0.1),
    "momentum": lambda: gradtx.sgd(0.05, momentum=0.9),
    "nesterov": lambda: gradtx.sgd(0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda: gradtx.adagrad(0.5),
    "adadelta": lambda: gradtx.adadelta(),
    "rmsprop": lambda: gradtx.rmsprop(0.05),
    "rmsprop_centered": lambda: gradtx.rmsprop(0.05, centered=True, momentum=0.5),
    "adam": lambda: gradtx.adam(0.1),
    "adamw": lambda: gradtx.adamw(0.1, weight_decay=1e-3),
    "adamax": lambda: gradtx.adamax(0.1),
    "nadam": lambda: gradtx.nadam(0.1),
    "amsgrad": lambda: gradtx.amsgrad(0.1),
    "adabound": lambda: gradtx.adabound(0.1, final_lr=0.1),
    "amsbound": lambda: gradtx.amsbound(0.1, final_lr=0.1),
}
