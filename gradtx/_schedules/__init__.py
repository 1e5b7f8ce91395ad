r"""Schedules: a hyperparameter (usually the learning rate) as a function of the step count $t$.

Each schedule is a frozen dataclass named after its factory, so its arguments are written once:
calling `exponential_decay(1.0, 10, 0.5)` checks the arguments and returns the schedule, whose
fields are those arguments (numbers, tuples of numbers, other schedules). A config names it
(`SCHEDULES`) and rebuilds it from its fields; equal schedules hash equal, one `jax.jit` cache
entry. Calling a schedule on a count, a Python int or an int32 array, traced or not, returns an
array in the default float dtype (float32, or float64 under `jax_enable_x64`).

The schedules have Optax's names, argument order and defaults and give Optax's values (to
rounding), with three differences: they raise a ValueError where Optax falls back or goes on
silently (a non-positive length or power, a negative start, a NaN or infinite value); a staircase
steps exactly at $t = kT$; and `polynomial_schedule` stays finite after its transition under
`jax.jit`.

Modules: `polynomial` (constant, piecewise constant, linear, polynomial), `decay` (exponential,
inverse-time, cosine), `warmup` (cosine warm-up, warm-up then cosine decay, joins), `cycles`
(piecewise interpolation, one-cycle, warm-up then constant or exponential decay, SGDR).
"""

from gradtx._base import Schedule as Schedule
from gradtx._schedules.cycles import cosine_onecycle_schedule as cosine_onecycle_schedule
from gradtx._schedules.cycles import linear_onecycle_schedule as linear_onecycle_schedule
from gradtx._schedules.cycles import (
    piecewise_interpolate_schedule as piecewise_interpolate_schedule,
)
from gradtx._schedules.cycles import sgdr_schedule as sgdr_schedule
from gradtx._schedules.cycles import warmup_constant_schedule as warmup_constant_schedule
from gradtx._schedules.cycles import (
    warmup_exponential_decay_schedule as warmup_exponential_decay_schedule,
)
from gradtx._schedules.decay import cosine_decay_schedule as cosine_decay_schedule
from gradtx._schedules.decay import exponential_decay as exponential_decay
from gradtx._schedules.decay import inverse_time_decay as inverse_time_decay
from gradtx._schedules.polynomial import constant_schedule as constant_schedule
from gradtx._schedules.polynomial import linear_schedule as linear_schedule
from gradtx._schedules.polynomial import piecewise_constant_schedule as piecewise_constant_schedule
from gradtx._schedules.polynomial import polynomial_schedule as polynomial_schedule
from gradtx._schedules.warmup import cosine_warmup_schedule as cosine_warmup_schedule
from gradtx._schedules.warmup import join_schedules as join_schedules
from gradtx._schedules.warmup import warmup_cosine_decay_schedule as warmup_cosine_decay_schedule

# Name -> schedule class, which is also the factory; its dataclass fields are its arguments.
SCHEDULES: dict[str, type] = {
    schedule.__name__: schedule
    for schedule in (
        constant_schedule,
        exponential_decay,
        piecewise_constant_schedule,
        inverse_time_decay,
        polynomial_schedule,
        linear_schedule,
        cosine_decay_schedule,
        cosine_warmup_schedule,
        warmup_cosine_decay_schedule,
        join_schedules,
        piecewise_interpolate_schedule,
        linear_onecycle_schedule,
        cosine_onecycle_schedule,
        warmup_constant_schedule,
        warmup_exponential_decay_schedule,
        sgdr_schedule,
    )
}
