"""Other frameworks' optimizers, reproduced step for step by gradtx chains.

`gradtx.conventions.torch.Adam(lr=1e-3, betas=(0.9, 0.999), amsgrad=True)` takes torch.optim's
names, argument names and defaults and returns the gradtx chain that follows the same
trajectory; `gradtx.conventions.keras` does the same for Keras 3. Each is a short chain of
ordinary gradtx transformations whose convention options (where epsilon sits, how the AMSGrad
maximum is corrected, dampening, Nadam's momentum schedule, coupled or decoupled weight decay)
are spelled out, so the difference from gradtx's defaults is visible in the code.
See docs/porting.md for the equations.
"""

from gradtx.conventions import keras as keras
from gradtx.conventions import torch as torch
