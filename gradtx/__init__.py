"""gradtx: composable gradient transformations for JAX.

Every optimizer is a chain of small pure `(init, update)` pairs. The public API, one name a line.
"""

# The contract and combinators.
from gradtx._base import EmptyState as EmptyState
from gradtx._base import GradientTransformation as GradientTransformation
from gradtx._base import apply_updates as apply_updates
from gradtx._base import identity as identity
from gradtx._combine import MaskedState as MaskedState
from gradtx._combine import chain as chain
from gradtx._combine import masked as masked

# Parameter groups and frozen parameters.
from gradtx._combine import MultiTransformState as MultiTransformState
from gradtx._combine import freeze as freeze
from gradtx._combine import multi_transform as multi_transform
from gradtx._combine import set_to_zero as set_to_zero

# Remedies: clipping against exploding gradients, annealed noise, skipping non-finite steps,
# and accumulating small batches into a large one.
from gradtx._clip import clip as clip
from gradtx._clip import clip_by_global_norm as clip_by_global_norm
from gradtx._noise import AddNoiseState as AddNoiseState
from gradtx._noise import add_noise as add_noise
from gradtx._wrappers import AccumulateState as AccumulateState
from gradtx._wrappers import ApplyIfFiniteState as ApplyIfFiniteState
from gradtx._wrappers import accumulate as accumulate
from gradtx._wrappers import apply_if_finite as apply_if_finite

# Debugging non-finite gradients, and saving optimizer state for an exact resume.
from gradtx._debug import check_finite as check_finite
from gradtx._checkpoint import load_state as load_state
from gradtx._checkpoint import save_state as save_state

# Scaling, momentum, weight decay.
from gradtx._scaling import ScaleByScheduleState as ScaleByScheduleState
from gradtx._scaling import scale as scale
from gradtx._scaling import scale_by_learning_rate as scale_by_learning_rate
from gradtx._scaling import scale_by_schedule as scale_by_schedule
from gradtx._momentum import TraceState as TraceState
from gradtx._momentum import trace as trace
from gradtx._decay import AddDecayedWeightsState as AddDecayedWeightsState
from gradtx._decay import add_decayed_weights as add_decayed_weights

# Adaptive scalers.
from gradtx._moments import ScaleByAdadeltaState as ScaleByAdadeltaState
from gradtx._moments import ScaleByRmsState as ScaleByRmsState
from gradtx._moments import ScaleByRssState as ScaleByRssState
from gradtx._moments import scale_by_adadelta as scale_by_adadelta
from gradtx._moments import scale_by_rms as scale_by_rms
from gradtx._moments import scale_by_rss as scale_by_rss
from gradtx._adam import ScaleByAdamState as ScaleByAdamState
from gradtx._adam import ScaleByAmsgradState as ScaleByAmsgradState
from gradtx._adam import ScaleByNadamState as ScaleByNadamState
from gradtx._adam import scale_by_adam as scale_by_adam
from gradtx._adam import scale_by_adamax as scale_by_adamax
from gradtx._adam import scale_by_amsgrad as scale_by_amsgrad
from gradtx._adam import scale_by_nadam as scale_by_nadam

# The AdaBound dynamic bound.
from gradtx._bound import BoundLrState as BoundLrState
from gradtx._bound import RmsStepSizeState as RmsStepSizeState
from gradtx._bound import bound_lr as bound_lr
from gradtx._bound import max_rms_step_size as max_rms_step_size
from gradtx._bound import rms_step_size as rms_step_size

# Schedules (decay schemes and warm-ups): callables of the step count.
from gradtx._schedules import constant_schedule as constant_schedule
from gradtx._schedules import cosine_decay_schedule as cosine_decay_schedule
from gradtx._schedules import cosine_warmup_schedule as cosine_warmup_schedule
from gradtx._schedules import exponential_decay as exponential_decay
from gradtx._schedules import inverse_time_decay as inverse_time_decay
from gradtx._schedules import join_schedules as join_schedules
from gradtx._schedules import linear_schedule as linear_schedule
from gradtx._schedules import piecewise_constant_schedule as piecewise_constant_schedule
from gradtx._schedules import polynomial_schedule as polynomial_schedule
from gradtx._schedules import warmup_cosine_decay_schedule as warmup_cosine_decay_schedule

# Ready-made optimizers.
from gradtx._aliases import adabound as adabound
from gradtx._aliases import adadelta as adadelta
from gradtx._aliases import adagrad as adagrad
from gradtx._aliases import adam as adam
from gradtx._aliases import adamax as adamax
from gradtx._aliases import adamw as adamw
from gradtx._aliases import amsbound as amsbound
from gradtx._aliases import amsgrad as amsgrad
from gradtx._aliases import nadam as nadam
from gradtx._aliases import rmsprop as rmsprop
from gradtx._aliases import sgd as sgd

# Switching from Adam to SGD (Keskar & Socher 2017).
from gradtx._swats import ScaleBySwatsState as ScaleBySwatsState
from gradtx._swats import scale_by_swats as scale_by_swats
from gradtx._swats import swats as swats

# Hyperparameters as state, and optimizers as JSON-serializable configs.
from gradtx._hyperparams import InjectHyperparamsState as InjectHyperparamsState
from gradtx._hyperparams import inject_hyperparams as inject_hyperparams
from gradtx._config import from_config as from_config
from gradtx._config import register_alias as register_alias
from gradtx._config import to_config as to_config

# Batch, stochastic and minibatch gradient descent.
from gradtx import training as training

# torch.optim and Keras optimizers, reproduced step for step.
from gradtx import conventions as conventions

__version__ = "0.1.0"
