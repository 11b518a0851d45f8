"""course_lib: the library behind the notebooks of "How Diffusion Models Work"."""
from .model import ContextUnet, count_parameters, trace_shapes
from .samplers import (SampleResult, ddim_step, ddpm_step, sample_ddim, sample_ddpm, sample_dpm_solver,
                       sampling_timesteps)
from .schedule import NoiseSchedule
from .training import TrainConfig, TrainResult, train

__all__ = ["NoiseSchedule", "ContextUnet", "count_parameters", "trace_shapes", "SampleResult", "ddpm_step",
           "ddim_step", "sample_ddpm", "sample_ddim", "sample_dpm_solver", "sampling_timesteps", "train",
           "TrainConfig", "TrainResult"]
