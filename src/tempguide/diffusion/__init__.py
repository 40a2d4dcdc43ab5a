"""Diffusion: schedules, samplers and temperature (chapter 2)."""
