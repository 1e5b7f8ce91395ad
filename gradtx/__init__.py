"""gradtx: composable gradient transformations for JAX.

Every optimizer is a chain of small pure `(init, update)` pairs. The public API, one name a line.
"""

# The contract and combinators.
from gradtx._base import EmptyState as EmptyState
from gradtx._base import GradientTransformation as GradientTransformation
from gradtx._base import GradientTransformationExtraArgs as GradientTransformationExtraArgs
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
from gradtx._transforms.clip import clip as clip
from gradtx._transforms.clip import clip_by_global_norm as clip_by_global_norm
from gradtx._transforms.noise import AddNoiseState as AddNoiseState
from gradtx._transforms.noise import add_noise as add_noise
from gradtx._wrappers.stepping import AccumulateState as AccumulateState
from gradtx._wrappers.stepping import ApplyIfFiniteState as ApplyIfFiniteState
from gradtx._wrappers.stepping import accumulate as accumulate
from gradtx._wrappers.stepping import apply_if_finite as apply_if_finite

# Debugging non-finite gradients, and saving optimizer state for an exact resume.
from gradtx._wrappers.debug import check_finite as check_finite
from gradtx._checkpoint import load_state as load_state
from gradtx._checkpoint import save_state as save_state

# Scaling, momentum, weight decay.
from gradtx._transforms.scaling import ScaleByScheduleState as ScaleByScheduleState
from gradtx._transforms.scaling import scale as scale
from gradtx._transforms.scaling import scale_by_learning_rate as scale_by_learning_rate
from gradtx._transforms.scaling import scale_by_schedule as scale_by_schedule
from gradtx._transforms.momentum import TraceState as TraceState
from gradtx._transforms.momentum import trace as trace
from gradtx._transforms.decay import AddDecayedWeightsState as AddDecayedWeightsState
from gradtx._transforms.decay import add_decayed_weights as add_decayed_weights

# Adaptive scalers.
from gradtx._transforms.moments import ScaleByAdadeltaState as ScaleByAdadeltaState
from gradtx._transforms.moments import ScaleByRmsState as ScaleByRmsState
from gradtx._transforms.moments import ScaleByRssState as ScaleByRssState
from gradtx._transforms.moments import scale_by_adadelta as scale_by_adadelta
from gradtx._transforms.moments import scale_by_rms as scale_by_rms
from gradtx._transforms.moments import scale_by_rss as scale_by_rss
from gradtx._transforms.adam import ScaleByAdamState as ScaleByAdamState
from gradtx._transforms.adam import ScaleByAmsgradState as ScaleByAmsgradState
from gradtx._transforms.adam import ScaleByNadamState as ScaleByNadamState
from gradtx._transforms.adam import scale_by_adam as scale_by_adam
from gradtx._transforms.adam import scale_by_adamax as scale_by_adamax
from gradtx._transforms.adam import scale_by_amsgrad as scale_by_amsgrad
from gradtx._transforms.adam import scale_by_nadam as scale_by_nadam

# The AdaBound dynamic bound.
from gradtx._transforms.bound import BoundLrState as BoundLrState
from gradtx._transforms.bound import RmsStepSizeState as RmsStepSizeState
from gradtx._transforms.bound import bound_lr as bound_lr
from gradtx._transforms.bound import max_rms_step_size as max_rms_step_size
from gradtx._transforms.bound import rms_step_size as rms_step_size

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

# Ready-made optimizers, by chapter of the story. Gradient descent and momentum:
from gradtx._aliases.descent import noisy_sgd as noisy_sgd
from gradtx._aliases.descent import sgd as sgd

# Per-parameter learning rates.
from gradtx._aliases.adaptive import adagrad as adagrad
from gradtx._aliases.adaptive import adadelta as adadelta
from gradtx._aliases.adaptive import rmsprop as rmsprop

# Adam and its variants.
from gradtx._aliases.adam import adam as adam
from gradtx._aliases.adam import adamw as adamw
from gradtx._aliases.adam import adamax as adamax
from gradtx._aliases.adam import nadam as nadam

# When Adam fails: AMSGrad, AdaBound and AMSBound, switching from Adam to SGD (SWATS).
from gradtx._aliases.beyond_adam import amsgrad as amsgrad
from gradtx._aliases.beyond_adam import adabound as adabound
from gradtx._aliases.beyond_adam import amsbound as amsbound
from gradtx._aliases.beyond_adam import swats as swats
from gradtx._transforms.swats import ScaleBySwatsState as ScaleBySwatsState
from gradtx._transforms.swats import scale_by_swats as scale_by_swats
from gradtx._transforms.swats import SwatsSwitch as SwatsSwitch
from gradtx._transforms.swats import swats_switch as swats_switch

# After AdaBound (2018-2024): the next chapter.
from gradtx._aliases.adam import nadamw as nadamw
from gradtx._aliases.adam import adamaxw as adamaxw
from gradtx._aliases.adaptive_continued import radam as radam
from gradtx._aliases.adaptive_continued import adabelief as adabelief
from gradtx._aliases.adaptive_continued import yogi as yogi
from gradtx._aliases.adaptive_continued import adopt as adopt
from gradtx._transforms.adaptive import ScaleByBeliefState as ScaleByBeliefState
from gradtx._transforms.adaptive import scale_by_radam as scale_by_radam
from gradtx._transforms.adaptive import scale_by_belief as scale_by_belief
from gradtx._transforms.adaptive import scale_by_yogi as scale_by_yogi
from gradtx._transforms.adaptive import scale_by_adopt as scale_by_adopt
from gradtx._aliases.adaptive_continued import acprop as acprop
from gradtx._transforms.acprop import ScaleByAcpropState as ScaleByAcpropState
from gradtx._transforms.acprop import scale_by_acprop as scale_by_acprop
from gradtx._aliases.adam_descendants import adan as adan
from gradtx._aliases.adam_descendants import ademamix as ademamix
from gradtx._aliases.adam_descendants import simplified_ademamix as simplified_ademamix
from gradtx._aliases.adam_descendants import madgrad as madgrad
from gradtx._aliases.adam_descendants import novograd as novograd
from gradtx._transforms.adan import ScaleByAdanState as ScaleByAdanState
from gradtx._transforms.adan import ScaleByAdemamixState as ScaleByAdemamixState
from gradtx._transforms.adan import scale_by_adan as scale_by_adan
from gradtx._transforms.adan import scale_by_ademamix as scale_by_ademamix
from gradtx._transforms.adan import (
    ScaleBySimplifiedAdemamixState as ScaleBySimplifiedAdemamixState,
)
from gradtx._transforms.adan import scale_by_simplified_ademamix as scale_by_simplified_ademamix
from gradtx._transforms.layerwise import ScaleByMadgradState as ScaleByMadgradState
from gradtx._transforms.layerwise import ScaleByNovogradState as ScaleByNovogradState
from gradtx._transforms.layerwise import scale_by_madgrad as scale_by_madgrad
from gradtx._transforms.layerwise import scale_by_novograd as scale_by_novograd

from gradtx._aliases.sign_and_trust import fromage as fromage
from gradtx._aliases.sign_and_trust import lamb as lamb
from gradtx._aliases.sign_and_trust import lars as lars
from gradtx._aliases.sign_and_trust import lion as lion
from gradtx._aliases.sign_and_trust import rprop as rprop
from gradtx._aliases.sign_and_trust import sign_sgd as sign_sgd
from gradtx._aliases.sign_and_trust import signum as signum
from gradtx._transforms.sign import ScaleByLionState as ScaleByLionState
from gradtx._transforms.sign import ScaleByRpropState as ScaleByRpropState
from gradtx._transforms.sign import scale_by_lion as scale_by_lion
from gradtx._transforms.sign import scale_by_rprop as scale_by_rprop
from gradtx._transforms.sign import scale_by_sign as scale_by_sign
from gradtx._transforms.trust_ratio import scale_by_trust_ratio as scale_by_trust_ratio

from gradtx._aliases.memory import adafactor as adafactor
from gradtx._aliases.memory import sm3 as sm3
from gradtx._transforms.factored import EmaState as EmaState
from gradtx._transforms.factored import FactoredState as FactoredState
from gradtx._transforms.factored import clip_by_block_rms as clip_by_block_rms
from gradtx._transforms.factored import ema as ema
from gradtx._transforms.factored import scale_by_factored_rms as scale_by_factored_rms
from gradtx._transforms.factored import scale_by_param_block_rms as scale_by_param_block_rms
from gradtx._transforms.sm3 import ScaleBySm3State as ScaleBySm3State
from gradtx._transforms.sm3 import scale_by_sm3 as scale_by_sm3
from gradtx._transforms.ftrl import FtrlState as FtrlState
from gradtx._transforms.ftrl import ftrl as ftrl

from gradtx._transforms.schedule_free import (
    schedule_free_eval_params as schedule_free_eval_params,
)
from gradtx._aliases.lr_role import polyak_sgd as polyak_sgd
from gradtx._aliases.lr_role import schedule_free_adamw as schedule_free_adamw
from gradtx._aliases.lr_role import schedule_free_sgd as schedule_free_sgd
from gradtx._transforms.polyak import scale_by_polyak as scale_by_polyak
from gradtx._aliases.lr_role import momo as momo
from gradtx._aliases.lr_role import momo_adam as momo_adam
from gradtx._transforms.momo import ScaleByMomoAdamState as ScaleByMomoAdamState
from gradtx._transforms.momo import ScaleByMomoState as ScaleByMomoState
from gradtx._transforms.momo import scale_by_momo as scale_by_momo
from gradtx._transforms.momo import scale_by_momo_adam as scale_by_momo_adam
from gradtx._transforms.schedule_free import ScheduleFreeState as ScheduleFreeState
from gradtx._transforms.schedule_free import schedule_free as schedule_free
from gradtx._aliases.lr_free import dadapt_adamw as dadapt_adamw
from gradtx._aliases.lr_free import muon as muon
from gradtx._aliases.lr_free import prodigy as prodigy
from gradtx._transforms.lr_free import ScaleByDadaptAdamwState as ScaleByDadaptAdamwState
from gradtx._transforms.lr_free import ScaleByProdigyState as ScaleByProdigyState
from gradtx._transforms.lr_free import scale_by_dadapt_adamw as scale_by_dadapt_adamw
from gradtx._transforms.lr_free import scale_by_prodigy as scale_by_prodigy
from gradtx._transforms.muon import MuonDimensionNumbers as MuonDimensionNumbers
from gradtx._transforms.muon import ScaleByMuonState as ScaleByMuonState
from gradtx._transforms.muon import scale_by_muon as scale_by_muon
from gradtx._transforms.muon import scale_by_shape as scale_by_shape
from gradtx._aliases.lr_free import cocob as cocob
from gradtx._aliases.lr_free import dog as dog
from gradtx._aliases.lr_free import dowg as dowg
from gradtx._transforms.cocob import ScaleByCocobState as ScaleByCocobState
from gradtx._transforms.cocob import scale_by_cocob as scale_by_cocob
from gradtx._transforms.distance import ScaleByDogState as ScaleByDogState
from gradtx._transforms.distance import ScaleByDowgState as ScaleByDowgState
from gradtx._transforms.distance import scale_by_dog as scale_by_dog
from gradtx._transforms.distance import scale_by_dowg as scale_by_dowg

from gradtx._wrappers.sam import SAMState as SAMState
from gradtx._wrappers.sam import normalize as normalize
from gradtx._wrappers.sam import sam as sam
from gradtx._wrappers.lookahead import LookaheadParams as LookaheadParams
from gradtx._wrappers.lookahead import LookaheadState as LookaheadState
from gradtx._wrappers.lookahead import lookahead as lookahead
from gradtx._wrappers.mechanic import MechanicState as MechanicState
from gradtx._wrappers.mechanic import mechanize as mechanize
from gradtx._transforms.plateau import ReduceOnPlateauState as ReduceOnPlateauState
from gradtx._transforms.plateau import reduce_on_plateau as reduce_on_plateau
from gradtx._aliases.loop import optimistic_gradient_descent as optimistic_gradient_descent
from gradtx._aliases.loop import optimistic_adam as optimistic_adam
from gradtx._aliases.loop import optimistic_adam_v2 as optimistic_adam_v2
from gradtx._transforms.optimistic import (
    ScaleByOptimisticGradientState as ScaleByOptimisticGradientState,
)
from gradtx._transforms.optimistic import (
    scale_by_optimistic_gradient as scale_by_optimistic_gradient,
)
from gradtx._schedules import cosine_onecycle_schedule as cosine_onecycle_schedule
from gradtx._schedules import linear_onecycle_schedule as linear_onecycle_schedule
from gradtx._schedules import piecewise_interpolate_schedule as piecewise_interpolate_schedule
from gradtx._schedules import sgdr_schedule as sgdr_schedule
from gradtx._schedules import warmup_constant_schedule as warmup_constant_schedule
from gradtx._schedules import (
    warmup_exponential_decay_schedule as warmup_exponential_decay_schedule,
)
from gradtx._transforms.averaging import AverageParamsState as AverageParamsState
from gradtx._transforms.averaging import average_params as average_params
from gradtx._transforms.averaging import averaged_params as averaged_params

# Hyperparameters as state, and optimizers as JSON-serializable configs.
from gradtx._wrappers.hyperparams import InjectHyperparamsState as InjectHyperparamsState
from gradtx._wrappers.hyperparams import inject_hyperparams as inject_hyperparams
from gradtx._config import from_config as from_config
from gradtx._config import register_alias as register_alias
from gradtx._config import to_config as to_config
from gradtx._registry import catalog as catalog

# Batch, stochastic and minibatch gradient descent.
from gradtx import training as training

# torch.optim and Keras optimizers, reproduced step for step.
from gradtx import conventions as conventions

# One training step (the fused CPU kernel where it applies).
from gradtx._step import fused_available as fused_available
from gradtx._step import step as step

# Optax's small utilities under Optax's names: type aliases, tree math, NaN repair, and gradient
# accumulation over several calls.
from gradtx._base import OptState as OptState
from gradtx._base import Params as Params
from gradtx._base import ScalarOrSchedule as ScalarOrSchedule
from gradtx._base import Schedule as Schedule
from gradtx._base import Updates as Updates
from gradtx import tree_utils as tree_utils
from gradtx.tree_utils import global_norm as global_norm
from gradtx._transforms.constrain import ZeroNansState as ZeroNansState
from gradtx._transforms.constrain import zero_nans as zero_nans
from gradtx._transforms.accumulation import ApplyEveryState as ApplyEveryState
from gradtx._transforms.accumulation import apply_every as apply_every
from gradtx._wrappers.multi_steps import MultiSteps as MultiSteps
from gradtx._wrappers.multi_steps import MultiStepsState as MultiStepsState
from gradtx._wrappers.multi_steps import ShouldSkipUpdateFunction as ShouldSkipUpdateFunction
from gradtx._wrappers.multi_steps import skip_large_updates as skip_large_updates
from gradtx._wrappers.multi_steps import skip_not_finite as skip_not_finite
from gradtx._transforms.constrain import keep_params_nonnegative as keep_params_nonnegative
from gradtx._transforms.standardize import centralize as centralize
from gradtx._transforms.standardize import normalize_by_update_norm as normalize_by_update_norm
from gradtx._transforms.clip import adaptive_grad_clip as adaptive_grad_clip
from gradtx._combine import named_chain as named_chain
from gradtx._wrappers.conditional import ConditionFn as ConditionFn
from gradtx._wrappers.conditional import ConditionallyMaskState as ConditionallyMaskState
from gradtx._wrappers.conditional import (
    ConditionallyTransformState as ConditionallyTransformState,
)
from gradtx._wrappers.conditional import conditionally_mask as conditionally_mask
from gradtx._wrappers.conditional import conditionally_transform as conditionally_transform
from gradtx._transforms.moments import scale_by_stddev as scale_by_stddev
from gradtx._wrappers.flatten import flatten as flatten
from gradtx._gradients import scale_gradient as scale_gradient

__version__ = "0.1.0"
