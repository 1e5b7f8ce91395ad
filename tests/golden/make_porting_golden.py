"""Generate golden fixtures for porting torch.optim and Keras 3 optimizers:
float64 trajectories produced by the real frameworks.

How to run (from the repository root)::

    pip install torch keras jax numpy
    python tests/golden/make_porting_golden.py

This writes ``tests/golden/porting.npz``. The script deliberately does not
import gradtx: it only records what the references do. Made with torch 2.13
(CPU), keras 3.15 and jax 0.10.2; keras is forced onto its JAX backend
(``KERAS_BACKEND=jax``, set below before the import) with
``jax_enable_x64`` and ``keras.config.set_floatx("float64")``, and the script
asserts that every Keras optimizer variable (learning rate, moments, Nadam's
``u_product``) and every updated parameter is float64. torch runs with
``torch.set_default_dtype(torch.float64)`` and ``foreach=False`` (the
single-tensor ``_single_tensor_*`` code path); it also reruns every torch
trajectory with ``foreach=True`` and prints the largest relative difference
(not stored). All randomness comes from ``numpy.random.default_rng`` with a
fixed seed, and the npz is written with fixed zip timestamps, so reruns give a
byte-identical file.

Protocols
---------
replay
    One parameter vector of 7 float64 elements (start values ``replay/x0``).
    For 120 steps the stored gradient ``replay/grads[k]`` is fed (torch:
    ``p.grad = g; opt.step()``; keras: ``opt.apply_gradients([(g, var)])``)
    and the params after the step are recorded. The gradients mix per-step and
    per-element magnitudes drawn log-uniformly from 1e-4 to 1e2, both signs,
    all-zero steps (never step 0), sparse steps (only 1-2 nonzero elements),
    and three outlier steps where one element is ~1e4. Element 0 only sees
    magnitudes in [1e-4, 1e-3] and is exactly zero for its first 5 steps (so
    its second moments are 0 there and later tiny: eps placement matters).
rosenbrock
    Closed loop on f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.2, 1.0).
    For 150 steps: gradient at the current params by the framework's autodiff
    (torch autograd; for keras ``jax.grad``, keras' own backend), recorded,
    then one step, then the params after the step are recorded. Every stored
    Rosenbrock case is checked to be well conditioned: rerun from x0 scaled
    by (1 + 1e-15), its trajectory changes by < 1e-11 relative (several
    RMSprop settings with small alpha/rho oscillate across the valley and
    amplify ulp-level differences to 1e-8..1e-2, so they were retuned). A
    port that computes the gradient itself (e.g. with jax.grad) can therefore
    be compared closed loop at 1e-10; the stored per-step gradients also
    allow an open-loop replay.
matrix
    Like replay on one 5 x 3 parameter (``matrix/x0``, ``matrix/grads``
    [120, 5, 3], own seed): log-uniform magnitudes 1e-4..1e2, both signs,
    all-zero steps, sparse steps (1-3 nonzero entries), three outliers ~1e4;
    row 1 only sees magnitudes in [1e-4, 1e-3] and is zero for its first 5
    steps. For the matrix optimizers (Adafactor, Muon).
lstsq
    Closed loop on f(W) = 0.5 ||A W - B||_F^2 (``lstsq/a`` [8, 5],
    ``lstsq/b`` [8, 3]) from ``lstsq/x0`` [5, 3], 150 steps, gradient by
    torch autograd / ``jax.grad``; conditioning checked as for rosenbrock.

Precision of the references (matrix optimizers). torch's Muon casts its
Newton-Schulz input to bfloat16; its stored ``params`` are torch's own code run
with that cast returning a float64 copy (``newton_schulz_in_float64``), and
the real bfloat16 run is stored as ``matrix/torch/Muon/{case}/params_bf16``.
Keras 3.15 maps float64 to float32 in its dtype promotion on the JAX backend,
so ``ops.mean`` / ``ops.norm`` of float64 tensors compute in float32; the
stored Keras Adafactor / Muon ``params`` are Keras run with that mapping
turned off (``keras_float64_reductions``), the real runs are stored as
``{replay,matrix}/keras/{Adafactor,Muon}/{case}/params_f32``.

Cases
-----
See ``TORCH`` and ``KERAS`` below; each optimizer has a "default" case (no
kwargs besides ``foreach=False`` for torch) and non-default cases that
together exercise every listed option. A case whose name ends in ``_rb`` is
the same as the case without the suffix but with a smaller lr, used only on
Rosenbrock because the original diverges there (the script checks that it
does: non-finite or |x| > 100); the original is then replay-only.

Key layout of porting.npz
-------------------------
``replay/grads``                               [120, 7] the given gradients
``replay/x0``                                  [7]      start params
``rosenbrock/x0``                              [2]      (-1.2, 1.0)
``{protocol}/{framework}/{Optimizer}/{case}/params``  [steps, n] params after
                                                        each step
``rosenbrock/{framework}/{Optimizer}/{case}/grads``   [150, 2] gradient the
                                                        reference used at
                                                        each step (before it)
``{protocol}/torch/ASGD/{case}/ax``             [steps, n] torch's averaged
                                                        params (state "ax")
                                                        after each step
``{protocol}/keras/ScheduleFreeAdamW/{case}/z``       [steps, n] its "momentum"
                                                        variable z after each
                                                        step (KERAS_STATE)
``{protocol}/keras/ScheduleFreeAdamW/{case}/x``       [steps, n] the x its
                                                        update_step recovers,
                                                        (y - (1 - b1) z) / b1
``matrix/grads``, ``matrix/x0``, ``lstsq/{a,b,x0}``   matrix protocols
``.../params_bf16``, ``.../params_f32``         real runs (see above)
``cases``  0-d string array: json.dumps of
    {framework: {Optimizer: {case: {<exact constructor kwargs>,
                                    "protocols": [...]}}}}

framework is "torch" or "keras"; Optimizer is the class name
(``torch.optim.<Optimizer>`` / ``keras.optimizers.<Optimizer>``). Tuples
(torch ``betas``, ``etas``, ``step_sizes``) appear as JSON lists. A
{protocol}/{framework}/{Optimizer}/{case} entry exists only if protocol is in
that case's "protocols".
"""

import contextlib
import hashlib
import io
import json
import os
import zipfile

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

keras.config.set_floatx("float64")
torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "porting.npz")

N_REPLAY_STEPS = 120
N_REPLAY_PARAMS = 7
N_ROSEN_STEPS = 150
ROSEN_X0 = np.array([-1.2, 1.0], dtype=np.float64)
DIVERGED = 100.0  # |x| beyond this on Rosenbrock counts as diverged
X0_PERTURBATION = 1e-15  # relative nudge of x0 for the conditioning check
MAX_CLOSED_LOOP_SPREAD = 1e-11

BOTH = ("replay", "rosenbrock")
REPLAY = ("replay",)
ROSEN = ("rosenbrock",)
ALL = ("replay", "rosenbrock", "matrix", "lstsq")
MATRIX = ("matrix", "lstsq")
REPLAYED = ("replay", "matrix")  # the others are closed loops
N_LSTSQ_STEPS = 150
N_STEPS = {"replay": 120, "rosenbrock": 150, "matrix": 120, "lstsq": N_LSTSQ_STEPS}
MATRIX_ONLY = {("torch", "Muon")}  # refuses vectors: no replay / rosenbrock run at all
NO_FOREACH = {"Muon"}  # torch's Muon takes no foreach argument


def case(protocols=BOTH, **kwargs):
    return {"kwargs": kwargs, "protocols": tuple(protocols)}


# A beta_2 for which torch.optim.RAdam's rho_t is exactly 5.0 at step 6 (found by bisection and
# a scan over neighbouring floats): the rectification test rho_t > 5 decides that step.
RHO_6_IS_5_B2 = 0.8397685748659791


def radam_rho(beta2, step):
    """rho_t as torch.optim.RAdam computes it (Python floats)."""
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * step * (beta2**step) / (1 - beta2**step)


assert radam_rho(RHO_6_IS_5_B2, 6.0) == 5.0

# torch.optim: every case also gets foreach=False (added in make_torch_opt and
# recorded in "cases").
TORCH = {
    "SGD": {
        "default": case(),
        "momentum": case(lr=2e-3, momentum=0.9),
        "dampening": case(REPLAY, lr=1e-2, momentum=0.9, dampening=0.3, weight_decay=1e-2),
        "dampening_rb": case(ROSEN, lr=1e-3, momentum=0.9, dampening=0.3, weight_decay=1e-2),
        "nesterov": case(lr=1e-3, momentum=0.8, nesterov=True, weight_decay=5e-3),
    },
    "Adagrad": {
        "default": case(),
        "lr_decay": case(
            lr=5e-2, lr_decay=1e-2, initial_accumulator_value=0.5, eps=1e-6, weight_decay=1e-2
        ),
        "wd": case(lr=0.2, lr_decay=1e-3, weight_decay=0.1, eps=1e-4),
    },
    "Adadelta": {
        "default": case(),
        "rho": case(lr=0.5, rho=0.95, eps=1e-4, weight_decay=1e-2),
        "fast": case(lr=2.0, rho=0.5, eps=1e-8, weight_decay=0.1),
    },
    "RMSprop": {
        "default": case(),
        "centered": case(lr=1e-3, alpha=0.9, eps=1e-6, centered=True),
        "centered_momentum": case(
            lr=1e-3, alpha=0.95, eps=1e-4, centered=True, momentum=0.9, weight_decay=1e-2
        ),
        "momentum": case(lr=5e-3, alpha=0.95, eps=1e-3, momentum=0.5, weight_decay=0.05),
    },
    "Adam": {
        "default": case(),
        "amsgrad": case(amsgrad=True),
        "l2": case(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2),
        "amsgrad_l2": case(
            lr=3e-3, betas=(0.95, 0.9999), eps=1e-10, weight_decay=0.1, amsgrad=True
        ),
    },
    "AdamW": {
        "default": case(),
        "amsgrad": case(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True),
        "strong_wd": case(lr=5e-3, betas=(0.95, 0.9999), eps=1e-10, weight_decay=0.5),
    },
    "Adamax": {
        "default": case(),
        "wd": case(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2),
        "big_eps": case(lr=5e-3, betas=(0.95, 0.9999), eps=1e-3, weight_decay=0.1),
    },
    "NAdam": {
        "default": case(),
        "l2": case(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2, momentum_decay=1e-2),
        "decoupled": case(
            lr=5e-3,
            betas=(0.95, 0.9999),
            eps=1e-10,
            weight_decay=0.1,
            momentum_decay=0.1,
            decoupled_weight_decay=True,
        ),
        # Same schedule as keras.optimizers.Nadam's defaults (psi = 1).
        "keras_like": case(lr=1e-3, eps=1e-7, momentum_decay=1.0),
    },
    "RAdam": {
        "default": case(),
        "l2": case(lr=2e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2),
        # A large eps: where it is added (before bias correction) shows.
        "decoupled": case(
            lr=5e-3, betas=(0.9, 0.99), eps=1e-3, weight_decay=0.1, decoupled_weight_decay=True
        ),
        # rho_6 == 5.0 exactly for this b2 (asserted below): torch's step 6 is not rectified.
        "rho_equals_5": case(lr=1e-3, betas=(0.9, RHO_6_IS_5_B2), eps=1e-6),
    },
    "Rprop": {
        "default": case(),
        "etas": case(lr=1e-3, etas=(0.3, 1.5), step_sizes=(1e-5, 1.0)),
        # lr above step_sizes[1]: torch clamps the initial step size at its first step.
        "clamped": case(lr=0.5, etas=(0.6, 1.1), step_sizes=(1e-3, 0.1)),
    },
    "ASGD": {
        "default": case(REPLAY),
        "default_rb": case(ROSEN, lr=1e-3),
        "averaged": case(lr=1e-3, lambd=1e-3, alpha=0.75, t0=20.0),
        "l2": case(lr=2e-3, lambd=0.05, alpha=0.5, t0=50.5, weight_decay=1e-2),
    },
    # Matrix optimizers (Adafactor, Muon); see "matrix" and "lstsq" above.
    "Adafactor": {
        "default": case(ALL),
        "wd": case(ALL, lr=3e-3, beta2_decay=-0.65, eps=(1e-12, 1e-2), d=2.0, weight_decay=0.1),
        # eps1 = 1e-3: its square floors V_t wherever g^2 stays below 1e-6.
        "floor": case(ALL, lr=3e-2, beta2_decay=-1.0, eps=(1e-3, 1e-4), d=1.5, weight_decay=1e-2),
    },
    # No foreach argument; torch's bfloat16 Newton-Schulz is replaced by float64 (see
    # NS_IN_FLOAT64), the real bfloat16 run is stored under params_bf16 (matrix only).
    "Muon": {
        "default": case(MATRIX),
        "plain": case(
            MATRIX,
            lr=2e-3,
            weight_decay=1e-2,
            momentum=0.9,
            nesterov=False,
            adjust_lr_fn="match_rms_adamw",
        ),
        "custom": case(
            MATRIX,
            lr=5e-3,
            weight_decay=0.0,
            momentum=0.5,
            ns_coefficients=(3.0, -3.2, 1.2),
            eps=1e-3,
            ns_steps=3,
            adjust_lr_fn="original",
        ),
    },
}

# Keras 3: learning_rate / momentum must be Python floats.
KERAS = {
    "SGD": {
        "default": case(REPLAY),
        "default_rb": case(ROSEN, learning_rate=1e-3),
        "momentum": case(learning_rate=2e-3, momentum=0.9),
        "nesterov": case(learning_rate=1e-3, momentum=0.8, nesterov=True),
    },
    "Adagrad": {
        "default": case(),
        "zero_init": case(learning_rate=5e-2, initial_accumulator_value=0.0, epsilon=1e-6),
        "big_init": case(learning_rate=0.2, initial_accumulator_value=1.0, epsilon=1e-3),
    },
    "Adadelta": {
        "default": case(),
        "torch_like": case(learning_rate=1.0, rho=0.9, epsilon=1e-6),
        "fast": case(learning_rate=0.5, rho=0.5, epsilon=1e-4),
    },
    "RMSprop": {
        "default": case(),
        "centered": case(learning_rate=3e-3, rho=0.95, epsilon=1e-6, centered=True),
        "centered_momentum": case(
            learning_rate=1e-3, rho=0.95, epsilon=1e-4, centered=True, momentum=0.9
        ),
        "momentum": case(learning_rate=5e-3, rho=0.99, epsilon=1e-3, momentum=0.5),
    },
    "Adam": {
        "default": case(),
        "amsgrad": case(amsgrad=True),
        "eps": case(learning_rate=1e-2, beta_1=0.8, beta_2=0.99, epsilon=1e-3),
        "amsgrad_eps": case(
            learning_rate=3e-3, beta_1=0.95, beta_2=0.9999, epsilon=1e-5, amsgrad=True
        ),
    },
    "Adamax": {
        "default": case(),
        "b": case(learning_rate=1e-2, beta_1=0.8, beta_2=0.99, epsilon=1e-3),
        "c": case(learning_rate=5e-3, beta_1=0.95, beta_2=0.9999, epsilon=1e-10),
    },
    "Nadam": {
        "default": case(),
        "b": case(learning_rate=1e-2, beta_1=0.8, beta_2=0.99, epsilon=1e-5),
        "c": case(learning_rate=3e-3, beta_1=0.95, beta_2=0.9999, epsilon=1e-10),
    },
    "Lion": {
        "default": case(),
        "b": case(learning_rate=3e-3, beta_1=0.95, beta_2=0.98),
        "c": case(learning_rate=1e-4, beta_1=0.5, beta_2=0.999),
    },
    "Lamb": {
        "default": case(),
        "b": case(learning_rate=1e-2, beta_1=0.8, beta_2=0.99, epsilon=1e-3),
        "c": case(learning_rate=3e-3, beta_1=0.95, beta_2=0.9999, epsilon=1e-10),
    },
    "Ftrl": {
        "default": case(),
        "l1_l2": case(
            learning_rate=0.1,
            initial_accumulator_value=0.5,
            l1_regularization_strength=0.05,
            l2_regularization_strength=0.01,
        ),
        "shrinkage_beta": case(
            learning_rate=0.05,
            learning_rate_power=-0.7,
            initial_accumulator_value=0.0,
            l2_shrinkage_regularization_strength=0.02,
            beta=0.5,
        ),
        "fixed_power": case(
            learning_rate=1e-3,
            learning_rate_power=0.0,
            l1_regularization_strength=1e-3,
            l2_regularization_strength=0.1,
            beta=0.1,
        ),
    },
    "ScheduleFreeAdamW": {
        "default": case(),
        "warmup": case(learning_rate=1e-2, beta_1=0.8, beta_2=0.99, epsilon=1e-6, warmup_steps=10),
        "betas": case(learning_rate=5e-3, beta_1=0.95, beta_2=0.9999, epsilon=1e-10),
        "long_warmup": case(learning_rate=5e-2, warmup_steps=200),
    },
    # Matrix optimizers (Adafactor, Muon); see "matrix" and "lstsq" above.
    "Adafactor": {
        "default": case(ALL),
        "b": case(
            ALL,
            learning_rate=3e-3,
            beta_2_decay=-0.65,
            epsilon_1=1e-10,
            epsilon_2=1e-2,
            clip_threshold=2.0,
        ),
        "c": case(
            ALL,
            learning_rate=0.5,
            beta_2_decay=-1.0,
            epsilon_1=1e-6,
            epsilon_2=1e-4,
            clip_threshold=0.5,
            relative_step=False,
        ),
    },
    # Vectors take Muon's Adam branch (replay, rosenbrock), matrices its Muon step.
    "Muon": {
        "default": case(ALL),
        "b": case(
            ALL,
            learning_rate=2e-3,
            adam_beta_1=0.8,
            adam_beta_2=0.99,
            adam_weight_decay=1e-2,
            epsilon=1e-5,
            weight_decay=2e-2,
            adam_lr_ratio=0.1,
            momentum=0.9,
            nesterov=False,
            rms_rate=None,
        ),
        "c": case(
            ALL,
            learning_rate=5e-3,
            adam_weight_decay=None,
            weight_decay=None,
            muon_a=3.0,
            muon_b=-3.2,
            muon_c=1.2,
            momentum=0.5,
            ns_steps=3,
            rms_rate=0.3,
        ),
    },
}

ZERO_STEPS = (2, 3, 17, 45, 46, 70, 98, 119)
SPARSE_STEPS = (5, 11, 23, 31, 52, 64, 77, 88, 104, 111)
OUTLIER_STEPS = ((9, 4), (40, 1), (86, 6))  # (step, element) ~1e4
QUIET = 0
QUIET_LATE_START = 5


def make_replay_inputs():
    rng = np.random.default_rng(20240917)
    x0 = rng.normal(0.0, 1.0, size=N_REPLAY_PARAMS)
    x0[QUIET] *= 0.05
    step_log = rng.uniform(-4.0, 2.0, size=(N_REPLAY_STEPS, 1))
    elem_log = rng.uniform(-1.0, 1.0, size=(N_REPLAY_STEPS, N_REPLAY_PARAMS))
    log_mag = np.clip(step_log + elem_log, -4.0, 2.0)
    log_mag[:, QUIET] = rng.uniform(-4.0, -3.0, size=N_REPLAY_STEPS)
    signs = rng.choice([-1.0, 1.0], size=(N_REPLAY_STEPS, N_REPLAY_PARAMS))
    grads = signs * 10.0**log_mag
    grads[:QUIET_LATE_START, QUIET] = 0.0
    for k in SPARSE_STEPS:
        keep = rng.choice(N_REPLAY_PARAMS, size=rng.integers(1, 3), replace=False)
        mask = np.zeros(N_REPLAY_PARAMS, dtype=bool)
        mask[keep] = True
        grads[k, ~mask] = 0.0
    for k in ZERO_STEPS:
        grads[k] = 0.0
    for k, i in OUTLIER_STEPS:
        grads[k, i] = rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(3.8, 4.3)
    assert np.any(grads[0] != 0.0)
    return x0.astype(np.float64), grads.astype(np.float64)


def rosenbrock(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


_jax_rosen_grad = jax.grad(lambda p: rosenbrock(p[0], p[1]))


# Matrix protocols ("matrix", "lstsq"): a 5 x 3 parameter (more rows than
# columns, so torch's Muon transposes it and its "original" factor is not 1).
MATRIX_SHAPE = (5, 3)
MATRIX_ZERO_STEPS = (3, 4, 29, 57, 90, 118)
MATRIX_SPARSE_STEPS = (7, 14, 36, 61, 73, 99, 108)
MATRIX_OUTLIER_STEPS = ((12, (2, 1)), (48, (0, 2)), (95, (4, 0)))  # (step, entry) ~1e4
MATRIX_QUIET_ROW = 1  # magnitudes in [1e-4, 1e-3], zero for its first 5 steps
LSTSQ_ROWS = 8


def make_matrix_inputs():
    rng = np.random.default_rng(20250311)
    n = N_REPLAY_STEPS
    x0 = rng.normal(0.0, 1.0, size=MATRIX_SHAPE)
    step_log = rng.uniform(-4.0, 2.0, size=(n, 1, 1))
    elem_log = rng.uniform(-1.0, 1.0, size=(n, *MATRIX_SHAPE))
    log_mag = np.clip(step_log + elem_log, -4.0, 2.0)
    log_mag[:, MATRIX_QUIET_ROW] = rng.uniform(-4.0, -3.0, size=(n, MATRIX_SHAPE[1]))
    signs = rng.choice([-1.0, 1.0], size=(n, *MATRIX_SHAPE))
    grads = signs * 10.0**log_mag
    grads[:QUIET_LATE_START, MATRIX_QUIET_ROW] = 0.0
    size = int(np.prod(MATRIX_SHAPE))
    for k in MATRIX_SPARSE_STEPS:
        keep = rng.choice(size, size=rng.integers(1, 4), replace=False)
        mask = np.zeros(size, dtype=bool)
        mask[keep] = True
        grads[k][~mask.reshape(MATRIX_SHAPE)] = 0.0
    for k in MATRIX_ZERO_STEPS:
        grads[k] = 0.0
    for k, (i, j) in MATRIX_OUTLIER_STEPS:
        grads[k, i, j] = rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(3.8, 4.3)
    assert np.any(grads[0] != 0.0)
    return x0.astype(np.float64), grads.astype(np.float64)


def make_lstsq_inputs():
    """f(W) = 0.5 ||A W - B||_F^2 with A [8, 5] (columns of norm ~1), B [8, 3]."""
    rng = np.random.default_rng(20250312)
    a = rng.normal(0.0, 1.0, size=(LSTSQ_ROWS, MATRIX_SHAPE[0])) / np.sqrt(LSTSQ_ROWS)
    b = rng.normal(0.0, 1.0, size=(LSTSQ_ROWS, MATRIX_SHAPE[1]))
    x0 = rng.normal(0.0, 1.0, size=MATRIX_SHAPE)
    return a, b, x0


LSTSQ_A, LSTSQ_B, LSTSQ_X0 = make_lstsq_inputs()


def lstsq(w, a, b):
    r = a @ w - b
    return 0.5 * (r * r).sum()


_jax_lstsq_grad = jax.grad(lambda w: lstsq(w, jnp.asarray(LSTSQ_A), jnp.asarray(LSTSQ_B)))


def torch_loss(protocol, p):
    if protocol == "rosenbrock":
        return rosenbrock(p[0], p[1])
    return lstsq(p, torch.tensor(LSTSQ_A), torch.tensor(LSTSQ_B))


def jax_grad(protocol, value):
    return _jax_rosen_grad(value) if protocol == "rosenbrock" else _jax_lstsq_grad(value)


@contextlib.contextmanager
def newton_schulz_in_float64(enabled):
    """torch's Muon casts its Newton-Schulz input to bfloat16 (``.bfloat16()``,
    torch/optim/_muon.py); while enabled, that cast returns a float64 copy, so
    torch's own code runs the iteration in float64."""
    if not enabled:
        yield
        return
    original = torch.Tensor.bfloat16
    torch.Tensor.bfloat16 = lambda self, *args, **kwargs: self.clone()
    try:
        yield
    finally:
        torch.Tensor.bfloat16 = original


# ----------------------------------------------------------------- torch


def make_torch_opt(name, kwargs, p, foreach):
    if name in NO_FOREACH:
        return getattr(torch.optim, name)([p], **kwargs)
    return getattr(torch.optim, name)([p], foreach=foreach, **kwargs)


# Optimizer state recorded after every step (besides the params), stored as
# {protocol}/torch/{Optimizer}/{case}/{key}: ASGD's averaged params.
TORCH_STATE_RECORDED = {"ASGD": ("ax",)}


def run_torch(
    name, kwargs, protocol, x0, grads, foreach=False, bfloat16=False, recorded_state=None
):
    p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = make_torch_opt(name, kwargs, p, foreach)
    n_steps = N_STEPS[protocol]
    params, seen = [], []
    for k in range(n_steps):
        if protocol in REPLAYED:
            p.grad = torch.tensor(grads[k], dtype=torch.float64)
        else:
            opt.zero_grad()
            torch_loss(protocol, p).backward()
        assert p.grad.dtype == torch.float64
        seen.append(p.grad.detach().clone().numpy())
        with newton_schulz_in_float64(name == "Muon" and not bfloat16):
            opt.step()
        assert p.dtype == torch.float64
        params.append(p.detach().clone().numpy())
        if recorded_state is not None:
            for key in TORCH_STATE_RECORDED.get(name, ()):
                value = opt.state[p][key]
                assert value.dtype == torch.float64, (name, key, value.dtype)
                recorded_state.setdefault(key, []).append(value.detach().clone().numpy())
    for v in opt.state[p].values():
        if torch.is_tensor(v):
            assert v.dtype == torch.float64, (name, v.dtype)
    return np.asarray(params, np.float64), np.asarray(seen, np.float64)


# ----------------------------------------------------------------- keras


KERAS_FLOAT32_REDUCTIONS = {"Adafactor", "Muon"}  # they call ops.mean / ops.norm


@contextlib.contextmanager
def keras_float64_reductions(enabled):
    """Keras 3.15's dtype promotion maps float64 to float32 on the JAX backend
    (BIT64_TO_BIT32_DTYPE in keras/src/backend/common/dtypes.py), so ops.mean
    and ops.norm of a float64 tensor compute in float32 (the result is cast
    back to float64). While enabled, float64 maps to itself and they compute in
    float64: Adafactor's means and RMS, Muon's Frobenius norm."""
    table = keras.src.backend.common.dtypes.BIT64_TO_BIT32_DTYPE
    original = table["float64"]
    if enabled:
        table["float64"] = "float64"
    try:
        yield
    finally:
        table["float64"] = original


def check_keras_float64(opt, var):
    assert var.dtype == "float64", var.dtype
    assert keras.backend.standardize_dtype(opt.learning_rate.dtype) == "float64"
    for v in opt.variables:
        dt = keras.backend.standardize_dtype(v.dtype)
        if v.path.endswith("iteration"):
            continue  # int counter, cast to float64 inside update_step
        if type(opt).__name__ == "Adafactor" and tuple(v.shape) == () and "int" in dt:
            continue  # Adafactor's unused row / column placeholders for a vector
        assert dt == "float64", (type(opt).__name__, v.path, dt)
        assert v.value.dtype == jnp.float64, (v.path, v.value.dtype)
    u_product = getattr(opt, "_u_product", None)
    if u_product is not None:
        assert u_product.value.dtype == jnp.float64


def schedule_free_sequences(opt, var):
    """ScheduleFreeAdamW's variable holds y; it stores z (its "momentum") and no x. x is what
    update_step recovers from them, (y - (1 - beta_1) z) / beta_1, computed the same way."""
    z = np.array(opt._momentums[0].value, dtype=np.float64)
    y = np.array(var.value, dtype=np.float64)
    beta_1 = np.float64(opt.beta_1)
    return {"z": z, "x": (y - (1 - beta_1) * z) / beta_1}


# Keras optimizers whose state is recorded beside the params after each step:
# name -> function (optimizer, variable) -> {key: array}.
KERAS_STATE = {"ScheduleFreeAdamW": schedule_free_sequences}


def run_keras(name, kwargs, protocol, x0, grads, float32_reductions=False, state=None):
    """Params after each step; `state`, a dict, also collects KERAS_STATE[name]'s arrays."""
    with keras_float64_reductions(name in KERAS_FLOAT32_REDUCTIONS and not float32_reductions):
        return _run_keras(name, kwargs, protocol, x0, grads, state)


def _run_keras(name, kwargs, protocol, x0, grads, state=None):
    var = keras.Variable(np.array(x0, dtype=np.float64), dtype="float64")
    opt = getattr(keras.optimizers, name)(**kwargs)
    n_steps = N_STEPS[protocol]
    params, seen = [], []
    for k in range(n_steps):
        if protocol in REPLAYED:
            g = jnp.asarray(grads[k], dtype=jnp.float64)
        else:
            g = jax_grad(protocol, var.value)
        assert g.dtype == jnp.float64
        seen.append(np.asarray(g))
        opt.apply_gradients([(g, var)])
        if k == 0:
            check_keras_float64(opt, var)
        assert var.value.dtype == jnp.float64
        params.append(np.array(var.value, dtype=np.float64))
        if state is not None and name in KERAS_STATE:
            for k, v in KERAS_STATE[name](opt, var).items():
                state.setdefault(k, []).append(v)
    assert int(opt.iterations) == n_steps
    check_keras_float64(opt, var)
    return np.asarray(params, np.float64), np.asarray(seen, np.float64)


# ----------------------------------------------------------------- output


def is_ok(params, protocol):
    """Finite everywhere; on a closed loop also |x| < DIVERGED throughout."""
    if not np.all(np.isfinite(params)):
        return False
    return protocol in REPLAYED or bool(np.max(np.abs(params)) < DIVERGED)


def final_loss(protocol, params):
    if protocol == "rosenbrock":
        return float(rosenbrock(*params))
    if protocol == "lstsq":
        return float(lstsq(params, LSTSQ_A, LSTSQ_B))
    return float("nan")


def write_npz_deterministic(path, arrays):
    """np.savez_compressed into memory, then rewrite the zip with a fixed
    timestamp (zipfile stamps entries with the current time) so reruns are
    byte-identical. np.load reads the result like any npz."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    buf.seek(0)
    with (
        zipfile.ZipFile(buf) as zin,
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zout,
    ):
        for info in zin.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            zout.writestr(fixed, zin.read(info.filename), compresslevel=9)


def main():
    x0_replay, g_replay = make_replay_inputs()
    out = {
        "replay/grads": g_replay,
        "replay/x0": x0_replay,
        "rosenbrock/x0": ROSEN_X0.copy(),
    }
    x0_matrix, g_matrix = make_matrix_inputs()
    out["matrix/grads"] = g_matrix
    out["matrix/x0"] = x0_matrix
    out["lstsq/x0"] = LSTSQ_X0.copy()
    out["lstsq/a"] = LSTSQ_A.copy()
    out["lstsq/b"] = LSTSQ_B.copy()
    inputs = {
        "replay": (x0_replay, g_replay),
        "rosenbrock": (ROSEN_X0, g_replay),
        "matrix": (x0_matrix, g_matrix),
        "lstsq": (LSTSQ_X0, g_matrix),
    }
    bf16_rows = []
    f32_rows = []
    cases_json = {"torch": {}, "keras": {}}
    rows = []
    foreach_diff = 0.0
    foreach_same = foreach_runs = 0
    for framework, table in (("torch", TORCH), ("keras", KERAS)):
        for opt_name, cases in table.items():
            cases_json[framework][opt_name] = {}
            for case_name, c in cases.items():
                kwargs = dict(c["kwargs"])
                recorded = dict(kwargs)
                if framework == "torch" and opt_name not in NO_FOREACH:
                    recorded["foreach"] = False
                recorded = {k: list(v) if isinstance(v, tuple) else v for k, v in recorded.items()}
                recorded["protocols"] = list(c["protocols"])
                cases_json[framework][opt_name][case_name] = recorded
                for protocol in ALL:
                    key = f"{protocol}/{framework}/{opt_name}/{case_name}"
                    if protocol not in c["protocols"] and (
                        protocol != "rosenbrock" or (framework, opt_name) in MATRIX_ONLY
                    ):
                        continue  # *_rb cases: Rosenbrock only; matrix protocols if listed
                    x0, grads = inputs[protocol]
                    recorded_state = {}
                    if framework == "torch":
                        params, seen = run_torch(
                            opt_name, kwargs, protocol, x0, grads, recorded_state=recorded_state
                        )
                        if opt_name in NO_FOREACH:
                            pass
                        elif is_ok(params, protocol):
                            fe, _ = run_torch(opt_name, kwargs, protocol, x0, grads, foreach=True)
                            rel = np.abs(fe - params) / np.maximum(np.abs(params), 1e-300)
                            foreach_diff = max(foreach_diff, float(np.max(rel)))
                            foreach_same += int(np.array_equal(fe, params))
                            foreach_runs += 1
                    else:
                        params, seen = run_keras(
                            opt_name, kwargs, protocol, x0, grads, state=recorded_state
                        )
                    if protocol not in c["protocols"]:
                        # Not stored; confirm the documented reason.
                        assert not is_ok(params, protocol), key
                        print(f"not stored: {key} diverges")
                        continue
                    assert is_ok(params, protocol), key
                    out[key + "/params"] = params
                    for state_key, values in recorded_state.items():
                        out[f"{key}/{state_key}"] = np.asarray(values, np.float64)
                    if (
                        framework == "keras"
                        and opt_name in KERAS_FLOAT32_REDUCTIONS
                        and protocol in REPLAYED
                    ):
                        # The real run: its means / norms in float32 (documented difference).
                        real, _ = run_keras(
                            opt_name, kwargs, protocol, x0, grads, float32_reductions=True
                        )
                        assert is_ok(real, protocol), key
                        out[key + "/params_f32"] = real
                        rel = np.max(np.abs(real - params) / np.abs(params))
                        f32_rows.append((key, float(rel)))
                    if (framework, opt_name, protocol) == ("torch", "Muon", "matrix"):
                        # The real run, Newton-Schulz in bfloat16 (documented difference).
                        real, _ = run_torch(opt_name, kwargs, protocol, x0, grads, bfloat16=True)
                        assert is_ok(real, protocol) and not np.array_equal(real, params), key
                        out[key + "/params_bf16"] = real
                        steps = np.diff(np.concatenate([x0[None], params]), axis=0)
                        real_steps = np.diff(np.concatenate([x0[None], real]), axis=0)
                        bf16_rows.append(
                            (
                                key,
                                float(np.max(np.abs(real - params) / np.abs(params))),
                                float(np.max(np.abs(real_steps - steps)) / np.max(np.abs(steps))),
                            )
                        )
                    if protocol in REPLAYED:
                        assert np.array_equal(seen, grads), key
                        amp = float("nan")
                    else:
                        out[key + "/grads"] = seen
                        # Conditioning of the closed loop: rerun from x0
                        # perturbed by ~1 ulp; a port whose gradient or update
                        # rounds differently must still agree to << 1e-10.
                        run = run_torch if framework == "torch" else run_keras
                        pert, _ = run(
                            opt_name, kwargs, protocol, x0 * (1.0 + X0_PERTURBATION), grads
                        )
                        amp = float(
                            np.max(np.abs(pert - params) / np.maximum(np.abs(params), 1e-300))
                        )
                        assert amp < MAX_CLOSED_LOOP_SPREAD, (key, amp)
                    rows.append(
                        (
                            key,
                            float(np.max(np.abs(params[-1] - x0))),
                            final_loss(protocol, params[-1]),
                            amp,
                        )
                    )
    out["cases"] = np.array(json.dumps(cases_json, sort_keys=True))

    print(f"{'key':<52}{'max|x-x0|':>11}{'f(final)':>11}{'spread':>10}")
    for key, moved, f, amp in rows:
        print(f"{key:<52}{moved:>11.4g}{f:>11.4g}{amp:>10.2g}")
    print(
        f"(spread: max relative change of a Rosenbrock trajectory when x0 is "
        f"scaled by 1 + {X0_PERTURBATION:g}; must stay < "
        f"{MAX_CLOSED_LOOP_SPREAD:g})"
    )
    for key, rel in f32_rows:
        print(f"{key}: Keras' float32 means / norms vs float64: {rel:.3g} relative")
    for key, rel, step_rel in bf16_rows:
        print(
            f"{key}: torch's bfloat16 Newton-Schulz vs float64: params differ by {rel:.3g} "
            f"relative, steps by {step_rel:.3g} of the largest step"
        )
    print(
        f"torch foreach=True vs foreach=False: {foreach_same}/{foreach_runs} "
        f"trajectories bitwise identical, max relative difference "
        f"{foreach_diff:.3g}"
    )

    write_npz_deterministic(OUT, out)
    with np.load(OUT, allow_pickle=False) as z:
        keys = sorted(z.files)
        assert set(keys) == set(out)
        for k in keys:
            a = z[k]
            assert k == "cases" or a.dtype == np.float64, k
            assert k == "cases" or np.array_equal(a, out[k]), k
        json.loads(str(z["cases"]))
    with open(OUT, "rb") as f:
        md5 = hashlib.md5(f.read()).hexdigest()
    print(f"wrote {OUT}: {len(keys)} arrays, {os.path.getsize(OUT)} bytes, md5 {md5}")


if __name__ == "__main__":
    main()
