"""The literature's counterexamples as experiments: Reddi, Wilson, SWATS's switch, AdaBound's band.

Each function runs one small experiment in float64 (the problems are built inside
`jax.enable_x64(True)`; `swats_digits_switch` runs the tour's float32 digits instead) and returns
NumPy arrays, for the claims ledger, the tests and notebook 03. Only gradtx's public API is used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gradtx
from gradtx import problems
from gradtx.training import descend

# Reddi et al.'s settings: beta1 = 0, beta2 = 1 / (1 + C^2), alpha_t = alpha / sqrt(t).
REDDI_ALPHA = 0.5
REDDI_STEPS = 3000

# SWATS at its defaults (relative switch tolerance 1e-3) on Rosenbrock's function, float64: at lr
# 0.01 it switches after step 145, where gamma_k crosses its average. Of eight learning rates
# from 1e-3 to 0.3 (1e-3, 3e-3, 0.01, 0.02, 0.03, 0.05, 0.1, 0.3; 2,000 steps) only 3e-3 (step 237)
# and 0.01 switch. The paper's absolute tolerance (gradtx's before) switched on none of the 2-D
# landscapes; see `gradtx.scale_by_swats`.
SWATS_SETTING = {"problem": "rosenbrock", "learning_rate": 0.01, "steps": 2000}

# The tour's digits run (seed 0: start from key 0, minibatches from fold_in(key, 1)), float32.
SWATS_DIGITS = {"learning_rate": 0.01, "steps": 2000, "seed": 0}


def _keys(steps: int, seed: int = 0) -> jax.Array:
    return jax.vmap(lambda t: jax.random.fold_in(jax.random.key(seed), t))(jnp.arange(steps))


def reddi_schedule(alpha: float = REDDI_ALPHA) -> Callable[[Any], Any]:
    """$\\alpha_t = \\alpha / \\sqrt{t}$ for steps t = 1, 2, ... (the count starts at 0)."""
    return lambda count: alpha / jnp.sqrt(jnp.asarray(count + 1).astype(float))


def reddi_optimizer(
    name: str, c: float, alpha: float = REDDI_ALPHA
) -> gradtx.GradientTransformation:
    """Adam or AMSGrad (`name`) at Reddi et al.'s beta1 = 0, beta2 = 1/(1 + c^2), alpha/sqrt(t)."""
    factory = {"adam": gradtx.adam, "amsgrad": gradtx.amsgrad}[name]
    return factory(reddi_schedule(alpha), b1=0.0, b2=1.0 / (1.0 + c**2))


def reddi_iterates(
    optimizer: gradtx.GradientTransformation,
    problem_name: str = "reddi",
    steps: int = REDDI_STEPS,
    seeds: int = 1,
) -> np.ndarray:
    """The projected iterates x_1, ..., x_(steps+1), shape (seeds, steps + 1).

    Step t uses the step number (online problems, which ignore the seed) or a key folded from
    the seed; every step is projected onto the problem's feasible set.
    """
    with jax.enable_x64(True):
        problem = problems.get(problem_name)

        def one(seed):
            inputs = jnp.arange(steps) if problem.online else _keys(steps, seed)

            def record(x):
                return x[0]

            result = descend(
                problem.value_and_grad,
                problem.start,
                optimizer.init(problem.start),
                inputs,
                optimizer,
                record=record,
                project=problem.project,
            )
            return result.records

        return np.asarray(jax.jit(jax.vmap(one))(jnp.arange(seeds)))


def wilson_solution(
    optimizer: gradtx.GradientTransformation, steps: int = 2000, stochastic: bool = False
) -> tuple[np.ndarray, dict[str, float]]:
    """Train on Wilson et al.'s problem from 0; return the weights and `evaluate`'s numbers.

    With `stochastic`, each step uses one sample drawn with replacement (SGD); else the full
    gradient (GD).
    """
    with jax.enable_x64(True):
        problem = problems.get("wilson")
        if stochastic:
            value_and_grad = problem.value_and_grad
        else:
            value_and_grad = lambda w, key: jax.value_and_grad(problem.loss)(w)

        def run():
            w0 = problem.start
            result = descend(value_and_grad, w0, optimizer.init(w0), _keys(steps), optimizer)
            return result.params, problem.evaluate(result.params)

        params, report = jax.jit(run)()
        return np.asarray(params), {k: float(v) for k, v in report.items()}


def swats_run(setting: dict[str, Any] = SWATS_SETTING) -> dict[str, Any]:
    """SWATS and Adam on `setting`'s problem: the switch step, the SGD rate, both paths.

    `setting` has `problem`, `learning_rate`, `steps` and, optionally, `eps_switch` (else
    `gradtx.swats`'s default). Returns a dict with `switch_step` (the last Adam step, 0 if
    none), `sgd_lr` (the learned SGD learning rate, times the learning rate), `swats_path` and
    `adam_path` (the iterates, shape (steps + 1, 2)) and `swats_loss` and `adam_loss` (the final
    losses).
    """
    with jax.enable_x64(True):
        problem = problems.get(setting["problem"])
        lr, steps = setting["learning_rate"], setting["steps"]
        tolerance = {"eps_switch": setting["eps_switch"]} if "eps_switch" in setting else {}
        swats = gradtx.swats(lr, **tolerance)
        adam = gradtx.adam(lr)

        def path(optimizer):
            value_and_grad = lambda p, _: jax.value_and_grad(problem.loss)(p)
            start = problem.start
            result = descend(
                value_and_grad,
                start,
                optimizer.init(start),
                jnp.arange(steps),
                optimizer,
                record=lambda p: p,
            )
            return result.records, result.opt_state

        swats_path, state = jax.jit(lambda: path(swats))()
        adam_path, _ = jax.jit(lambda: path(adam))()
        switch = gradtx.swats_switch(state, lr)
        return {
            "switch_step": int(switch.step),
            "sgd_lr": float(switch.sgd_lr),
            "swats_path": np.asarray(swats_path),
            "adam_path": np.asarray(adam_path),
            "swats_loss": float(problem.loss(swats_path[-1])),
            "adam_loss": float(problem.loss(adam_path[-1])),
        }


def swats_digits_switch(
    learning_rate: float = SWATS_DIGITS["learning_rate"],
    steps: int = SWATS_DIGITS["steps"],
    seed: int = SWATS_DIGITS["seed"],
) -> dict[str, float]:
    """SWATS at its defaults on the digits MLP in float32, as the tour runs it.

    The start is `init_params(jax.random.key(seed))` and step t's minibatch comes from
    `fold_in(fold_in(key, 1), t)`, the tour's stream (`gradtx.tour.race.run`). Returns
    `switch_step` (the last Adam step, 0 if none), `sgd_lr` (the learned SGD learning rate) and
    `train_loss` (the full training loss at the end).
    """
    with jax.enable_x64(False):
        problem = problems.get("digits")
        key = jax.random.key(seed)
        keys = jax.vmap(functools.partial(jax.random.fold_in, jax.random.fold_in(key, 1)))(
            jnp.arange(steps)
        )

        def run(params, lr):
            swats = gradtx.swats(lr)
            result = descend(problem.value_and_grad, params, swats.init(params), keys, swats)
            return gradtx.swats_switch(result.opt_state, lr), problem.loss(result.params)

        lr = jnp.asarray(learning_rate, jnp.float32)
        switch, loss = jax.jit(run)(problem.init_params(key), lr)
        return {
            "switch_step": int(switch.step),
            "sgd_lr": float(switch.sgd_lr),
            "train_loss": float(loss),
        }


def adabound_band(final_lr: float, gamma: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    r"""AdaBound's band at t = 1, ..., steps: $l_t = \eta^*(1 - \frac{1}{\gamma t + 1})$ and
    $h_t = \eta^*(1 + \frac{1}{\gamma t})$ (`gradtx.bound_lr`'s equations, constant rate)."""
    t = np.arange(1, steps + 1, dtype=np.float64)
    return final_lr * (1 - 1 / (gamma * t + 1)), final_lr * (1 + 1 / (gamma * t))


def effective_step_sizes(
    optimizer: gradtx.GradientTransformation,
    problem_name: str = "rosenbrock",
    steps: int = 3000,
    b1: float = 0.9,
) -> np.ndarray:
    r"""Each coordinate's effective step size $\eta_t = -u_t / m_t$, shape (steps, dim).

    $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$ is the uncorrected first moment, so that for Adam
    $\eta_t = \alpha / ((1-\beta_1^t)(\sqrt{\hat v_t} + \epsilon))$ and for AdaBound and AMSBound
    $\eta_t$ is the clipped rate that `gradtx.bound_lr` multiplies $m_t$ by: the quantity
    AdaBound's band $[l_t, h_t]$ (`adabound_band`) confines. Where $m_t = 0$ it is NaN.
    """
    with jax.enable_x64(True):
        problem = problems.get(problem_name)

        def run():
            def step(carry, _):
                params, state, mu = carry
                grads = jax.grad(problem.loss)(params)
                # u_t itself is measured, so not `gradtx.step`, which returns only the params.
                updates, state = optimizer.update(grads, state, params)
                mu = b1 * mu + (1 - b1) * grads
                eta = -updates / jnp.where(mu == 0, jnp.nan, mu)
                return (params + updates, state, mu), eta

            start = problem.start
            carry = (start, optimizer.init(start), jnp.zeros_like(start))
            return jax.lax.scan(step, carry, None, length=steps)[1]

        return np.asarray(jax.jit(run)())
